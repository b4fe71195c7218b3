// Package loadgen is swiftlet's load generator: it replays the 2016
// deepstream.io-benchmarks matrix (S subscribers, P publishers, one channel)
// against swiftlet, socket.io 4.x and deepstream 7 with the same measurement
// code for every target, and writes the results (HdrHistogram percentile
// files and interval logs, a JSON summary, the published table with measured
// columns, benchstat lines and plots) to results/<label>/.
//
// One client implementation exists per protocol: the deepstream text protocol
// (swiftlet and deepstream 7, see protocol.md sections 2-4) and socket.io over
// Engine.IO v4, both over a raw RFC 6455 client written on package frame.
// Every connection is a net.Conn with one reader goroutine that runs the
// protocol state machine (handshake, ping/pong, subscription ack, deliveries);
// measurements go into per-connection buffers flushed into sharded
// histograms, so a delivery costs no allocation and, on average, a small
// fraction of one lock.
//
// Every published message carries a 24-hex-digit stamp (round, publish
// index, send time in ns) that a receiver decodes from the tail of the
// message without parsing the whole message; a per-connection bitset over
// the publish indices of the round counts every delivery exactly once and
// detects duplicates.
//
// BenchMain and CompareMain are the entry points behind `swiftlet bench` and
// `swiftlet compare`.
package loadgen
