// Package fanout decides who receives what: the topic registry, one lock-free ring per shard (event
// loop) between the loops, and the batched drain that encodes a topic's messages once and hands the
// same bytes to every local subscriber.
//
// # Shards and ownership
//
// The server runs N event loops; each connection (Subscriber) is owned by one of them, its shard.
// Everything about a subscriber's subscriptions lives in its shard's tables and is touched only on
// that shard's goroutine, so Subscribe, Unsubscribe, IsSubscribed and UnsubscribeAll take no lock
// beyond one registry stripe. Publish, PublishBytes, Send, Count and Stats may be called from any
// goroutine. A shard's goroutine is reached through its Executor.
//
// # Registry
//
// A global entry per topic holds an atomic bitmask of the shards that have local subscribers and an
// atomic global count. The entries live in 64 maps, each behind a sync.RWMutex, striped by a hash of
// the topic. A publish takes one read lock for one map lookup (no allocation, also for a []byte
// topic) and then reads the mask without a lock. Copy-on-write was rejected because deepstream
// clients create a topic per record and a subscribe would copy the whole map; sync.Map was rejected
// because its key is an interface, which costs an allocation per publish for a []byte topic.
// Subscribe and Unsubscribe change mask, count and the map together under the stripe's write lock,
// which makes first/last exact when shards race, and lets an entry be deleted when its count reaches
// zero without losing a concurrent subscribe.
//
// # Ring
//
// Each shard has a bounded multi-producer single-consumer ring of records (a record is one publish
// for that shard, or one unicast): Dmitry Vyukov's bounded queue with a sequence number per slot and
// atomic head/tail on separate cache lines. A producer claims a position with one CAS on tail,
// copies topic and message into the slot's own reusable buffer (no allocation once slots have grown
// to the message size), and commits by storing the slot's sequence. The consumer reads committed
// slots in order, in place, and releases them only when the drain is over, so batches reference
// ring memory without a second copy.
//
// A full ring never drops and never deadlocks. The producer yields a couple of times for the
// consumer to free slots, then appends the record to the shard's overflow list (a mutex-guarded
// buffer, which may allocate: this is the exceptional path, counted in Stats.RingFull and
// Stats.Spilled). From then on every producer appends to the overflow list, and the consumer takes
// the list only once it has consumed the ring up to its tail, so a producer's records never
// overtake each other. This is also what makes a loop that publishes into its own full ring safe:
// it cannot wait for itself, so it spills.
//
// # Wake
//
// A shard's sched flag is 0 while nothing is queued. The producer that moves it from 0 to 1 calls
// Executor.Execute once; every other record pushed before the drain finishes rides on that wake, so
// a burst of publishes costs one Execute. At its end the drain stores 0 and looks at the ring again,
// rescheduling itself for records whose producers saw 1 and so did not wake it.
//
// # Batch and exclusion
//
// A drain groups the records by topic, in order of the topics' first record. Per topic it writes
// one WebSocket text frame header and every message of the batch into the drain's arena, once, and
// calls WriteFrame with those same bytes for every local subscriber. A subscriber that published
// some of the batch's messages (marked while the batch is built, so this costs nothing for the
// others) gets its own frame with its messages cut out, because the protocol never echoes to the
// sender; it gets no frame if the batch is all its own. Exclusion is only done on the sender's own
// shard, the only place it can subscribe. A unicast is written at once as a frame of its own, after
// any batch still pending that its subscriber is in, so a producer's publishes and unicasts reach a
// subscriber in the order the producer made them. Each subscriber gets at most one WriteFrame per
// topic batch; the loop writes each connection once per drain. All frames of a drain stay valid
// until the drain returns.
//
// Ordering guarantees: every record reaches every subscriber of its topic on its shards exactly
// once, except the sender; the records one goroutine publishes on one topic arrive in order; the
// unicasts one goroutine sends to one subscriber arrive in order, and after that goroutine's earlier
// publishes to the subscriber. Publishes on different topics are not ordered with each other (as in
// deepstream, which batches per channel too).
//
// # Locks
//
// fanout has two kinds of mutex: a registry stripe's RWMutex and a shard's overflow mutex. Neither
// is held while the other is taken, and neither is held while fanout calls out (Executor.Execute,
// Subscriber.WriteFrame, Subscriber.Shard, the UnsubscribeAll callback), so callers may hold their
// own locks around any fanout call without risk of a lock-order cycle through fanout.
//
// # Flush policy
//
// An idle shard drains at once when woken, so a lone message is not delayed by a window (the 10x1
// row of the benchmark). Under load, messages coalesce in two ways. First, naturally: records that
// arrive while a drain is queued or running wait for the next drain, so the more a drain costs (its
// cost is its writes), the bigger the next batch. Second, by the window: a drain is busy when it
// delivered at least 64 records or wrote at least 256 frames (one message to hundreds of
// subscribers costs hundreds of writes however few records it holds). After a busy drain that took
// less than Options.Window, the shard stays marked as scheduled, so producers do not wake it, and a
// task queued behind the drain arms the shard's timer for Window once the loop has written the
// drain's frames: the next drain comes a window after the writes, with everything that arrived in
// between. The shard keeps coalescing like that for 4 windows after its last busy drain, or as
// long as that drain's writes took if longer, so bursts a few milliseconds apart (a hot channel,
// the benchmark's back-to-back rounds) are still load, and only a shard quiet for longer is idle
// and drains at once. No message waits more than
// one drain's writes plus Window. Window 0 disables the timer: every drain is immediate.
//
// BenchmarkRound measures both settings on benchmark.md's rows, back to back as the load generator
// runs them, with one getppid per connection per drain standing in for the write: natural batching
// alone gives 2-3 drains and 1.1-1.5 frames per subscriber per round; the window brings the
// 1000x100 and 10000x1000 rows to 1.0 frame per subscriber, at the price of about a window per
// round (1000x100: 0.27 ms -> 1.6 ms with these cheap stand-in writes). Real socket writes cost
// far more (about 10 us each on loopback, measured with the server's CPU profile), which is what
// the window saves: against the load generator on the same two cores, the 1000x100 row went from
// 3.5 to 2.4 frames per subscriber and from about 50 to 33 ms per round. The server chooses
// through Options.Window (flushWindow in the configuration, 1 ms by default).
package fanout
