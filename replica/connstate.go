package replica

import (
	"errors"
	"time"

	"github.com/nats-io/nats.go"
)

// The connection's state as the refine path sees it. nats.go holds its
// connection lock while a reconnect attempt dials (up to its connect
// timeout, 2 s by default), and IsConnected and MaxPayload take that lock:
// asked on every refine, they made a sidecar cut off from its brokers
// answer each refine 202 only after 1.7 s (4.7 s at worst; the fault
// suite's scenario 2). trackConn keeps both in atomics instead, from the
// connection's status events, and refreshes them once a second in case an
// event was dropped (nats.go drops events for a listener that is behind).

// connUp reports whether the connection was connected when last seen.
func (r *Replica) connUp() bool { return r.connOK.Load() }

// connUpNow is connUp, confirmed by the connection itself when connUp
// says yes: between a status change and trackConn's hearing of it, a
// publish would wait in nats.go's reconnect buffer, be flushed after the
// reconnect, and be delivered again from the outbox under another message
// id. Confirming costs the connection's lock only while it is up, or in
// that short window; while it is down (a reconnect attempt holding the
// lock) connUp already says no.
func (r *Replica) connUpNow() bool { return r.connOK.Load() && r.cfg.Conn.IsConnected() }

// maxPayload is the most the server reached last takes in one message.
func (r *Replica) maxPayload() int64 { return r.connMaxPayload.Load() }

// initConnState reads the connection's state once, before any refine.
func (r *Replica) initConnState() {
	r.connOK.Store(r.cfg.Conn.IsConnected())
	r.connMaxPayload.Store(r.cfg.Conn.MaxPayload())
}

// trackConn follows the connection's status until the replica closes.
func (r *Replica) trackConn() {
	nc := r.cfg.Conn
	events := nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	defer nc.RemoveStatusListener(events)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case s := <-events:
			r.connOK.Store(s == nats.CONNECTED)
			if s != nats.CONNECTED {
				continue
			}
		case <-tick.C:
			// May wait for a reconnect attempt's dial: only this goroutine
			// waits, not a refine.
			r.connOK.Store(nc.IsConnected())
		}
		if mp := nc.MaxPayload(); mp > 0 {
			r.connMaxPayload.Store(mp)
		}
	}
}

// lostConnection reports whether a publish failed because the connection
// is down (reconnecting, closed, or without a reconnect buffer).
func lostConnection(err error) bool {
	return errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrReconnectBufExceeded) ||
		errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrDisconnected)
}
