// Package frame owns swiftlet's bytes on the wire, in three layers, each a parser that reads the bytes an
// event loop has buffered and an encoder that appends to a caller's buffer:
//
//   - The HTTP/1.1 opening handshake of RFC 6455 section 4 (handshake.go): ParseRequest parses a request
//     head and Request.CheckUpgrade validates it as a WebSocket upgrade; AppendAccept and
//     AppendAcceptProtocol build the 101 reply, and HTTPError.AppendResponse or AppendHTTPResponse the
//     refusals and plain HTTP answers.
//   - RFC 6455 frames (ws.go, utf8.go): a Decoder per connection turns client frames into complete
//     messages, pings, pongs and closes delivered to a FrameHandler, and fails the connection with a
//     *CloseError (close code and reason) on any violation; AppendFrame, AppendFrameHeader and AppendClose
//     build unmasked server frames, AppendMaskedFrame and ParseServerHeader serve swiftlet's own clients
//     (the load generator, tests). UTF8Validator checks text incrementally, split anywhere.
//   - deepstream text messages (message.go, names.go, typed.go; protocol.md section 2): Next splits a text
//     payload into 0x1E-terminated messages, Message.Parse splits one into its 0x1F-separated parts and
//     looks up its Topic and Action (names.go is the one table of every name on the wire), ParseTyped
//     reads a typed value ("S...", "O{...}", "N12", "T", ...); the Append* functions build messages,
//     errors and typed values.
//
// frame imports nothing of swiftlet (internal/lint checks it), so loop, fanout, server and loadgen all
// build on it.
//
// # Zero copy, zero allocation
//
// Parsing never copies: a Request, a Message, a Value and the payloads handed to a FrameHandler are
// slices of the caller's buffer (a Decoder unmasks in place, and copies only to reassemble a fragmented
// message, into a reassembly buffer it keeps up to 64 KiB). They are valid only as long as that buffer is
// unchanged, which on gnet means until the bytes are discarded or the callback returns; a caller that
// keeps one longer copies it itself. Message's slices are capped at their end, so appending to one never
// overwrites the input.
//
// Nothing on the per-message path allocates in steady state: Decode, Parse, Next, ParseTyped, the lookups
// and every Append* function (when dst has capacity) run without allocating, which the package's
// benchmarks and testing.AllocsPerRun assertions check. Errors are preallocated values (ErrUnknownTopic,
// the *CloseError and *HTTPError refusals), so refusing bad input does not allocate either.
//
// Bad input never panics (internal/lint forbids panic here): an incomplete head or frame asks for more
// bytes (ParseRequest returns n == 0, Decode consumes only whole frames and leaves the rest for the next
// call), and malformed input returns an error that tells the caller how to answer: the HTTP status, the
// WebSocket close code, or the deepstream error event (MESSAGE_PARSE_ERROR, UNKNOWN_TOPIC,
// INVALID_MESSAGE_DATA). Every parser has a fuzz test fed with valid input split at random points.
//
// # Goroutines
//
// Functions without state (ParseRequest, Next, ParseTyped, LookupTopic, LookupAction, the Append*
// functions, the methods of Request, Opcode, Topic, Action, Value and the error types) are safe for
// concurrent use: they only read their arguments and write the dst they are given. A Decoder, a Message
// and a UTF8Validator hold per-connection state and are owned by one goroutine, the loop that owns the
// connection: their methods must be called there, and a FrameHandler is called on the goroutine that
// called Decode. Each exported identifier's doc says which of the two it is.
package frame
