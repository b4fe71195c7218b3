package loop

import "swiftlet/frame"

// EchoHandler is a test mode (`swiftlet start --echo`): every text message is sent back as text and
// every binary message as binary. The WebSocket conformance suite runs against it.
type EchoHandler struct{}

// OnLoop implements Handler.
func (EchoHandler) OnLoop(*Loop) {}

// OnOpen implements Handler.
func (EchoHandler) OnOpen(*Conn) {}

// OnMessage implements Handler: echo on the owning loop.
func (EchoHandler) OnMessage(c *Conn, op frame.Opcode, payload []byte) {
	if op == frame.OpBinary {
		c.SendBinary(payload)
		return
	}
	c.SendText(payload)
}

// OnClose implements Handler.
func (EchoHandler) OnClose(*Conn) {}
