package loop

import (
	"testing"
	"time"
)

func TestTimersRunInDeadlineOrder(t *testing.T) {
	var ts Timers
	base := time.Unix(1000, 0)
	var got []int
	for _, d := range []int{30, 10, 20, 10, 50} {
		d := d
		ts.Schedule(base.Add(time.Duration(d)*time.Millisecond), func() { got = append(got, d) })
	}
	if n := ts.Advance(base.Add(25 * time.Millisecond)); n != 3 {
		t.Fatalf("ran %d timers, want 3", n)
	}
	if want := []int{10, 10, 20}; !equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	if next, ok := ts.Next(); !ok || !next.Equal(base.Add(30*time.Millisecond)) {
		t.Fatalf("next %v %v", next, ok)
	}
	ts.Advance(base.Add(time.Hour))
	if want := []int{10, 10, 20, 30, 50}; !equal(got, want) || ts.Len() != 0 {
		t.Fatalf("order %v, want %v (pending %d)", got, want, ts.Len())
	}
}

func TestTimerStop(t *testing.T) {
	var ts Timers
	base := time.Unix(1000, 0)
	ran := map[string]bool{}
	a := ts.Schedule(base.Add(time.Millisecond), func() { ran["a"] = true })
	b := ts.Schedule(base.Add(2*time.Millisecond), func() { ran["b"] = true })
	c := ts.Schedule(base.Add(3*time.Millisecond), func() { ran["c"] = true })
	if !b.Stop() || b.Stop() {
		t.Fatal("Stop must report true once, then false")
	}
	ts.Advance(base.Add(time.Second))
	if !ran["a"] || ran["b"] || !ran["c"] {
		t.Fatalf("ran %v", ran)
	}
	if a.Stop() || c.Stop() {
		t.Fatal("stopping a timer that ran must report false")
	}
	var nilTimer *Timer
	if nilTimer.Stop() {
		t.Fatal("nil timer")
	}
}

// A callback may schedule more work: timers due by now run in the same Advance, later ones wait.
func TestTimerScheduledFromCallback(t *testing.T) {
	var ts Timers
	base := time.Unix(1000, 0)
	var got []string
	ts.Schedule(base, func() {
		got = append(got, "first")
		ts.Schedule(base, func() { got = append(got, "now") })
		ts.Schedule(base.Add(time.Second), func() { got = append(got, "later") })
	})
	ts.Advance(base)
	if len(got) != 2 || got[1] != "now" || ts.Len() != 1 {
		t.Fatalf("got %v, pending %d", got, ts.Len())
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func BenchmarkTimerScheduleStop(b *testing.B) {
	var ts Timers
	base := time.Unix(1000, 0)
	for i := 0; i < 10000; i++ {
		ts.Schedule(base.Add(time.Duration(i)*time.Millisecond), func() {})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		t := ts.Schedule(base.Add(time.Duration(i%10000)*time.Millisecond), func() {})
		t.Stop()
	}
}
