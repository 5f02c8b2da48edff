package nats

import (
	"encoding/json"
	"errors"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// A JetStream subscriber pulls its messages with a loop of its own rather
// than jetstream's Consume: Consume can stop pulling for good (until a
// missed heartbeat wakes it) when a handler finishes while its previous pull
// request is still being sent, which small Prefetch values hit every few
// hundred messages. The loop keeps one pull request of Prefetch messages
// open at a time and sends the next when the last message of the batch has
// been handled, when the server ends the request (timeout, conflict), when
// the connection comes back, and when neither a message nor a heartbeat
// arrived for pullWatchdog.
const (
	// pullExpiry is how long a pull request waits at the server.
	pullExpiry = 30 * time.Second
	// pullHeartbeat is how often the server says an idle request is alive.
	pullHeartbeat = 5 * time.Second
	// pullWatchdog is how long the loop waits for anything before it
	// takes the request for lost.
	pullWatchdog = 2*pullHeartbeat + time.Second
	// pullBackoff is the pause after the server refused a request.
	pullBackoff = 250 * time.Millisecond
)

// pullRequest is the body of $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>.
type pullRequest struct {
	Batch     int           `json:"batch"`
	Expires   time.Duration `json:"expires"`
	Heartbeat time.Duration `json:"idle_heartbeat"`
}

// puller is the pull loop of one subscription.
type puller struct {
	next  string               // the subject of pull requests
	inbox string               // where the server sends the messages
	ch    chan *natsgo.Msg     // messages, heartbeats and status replies
	nsub  *natsgo.Subscription // of inbox into ch
	stop  chan struct{}        // closed by Unsubscribe
	done  chan struct{}        // closed when the loop has ended
}

func newPuller(nc *natsgo.Conn, stream, consumer string, prefetch int) (*puller, error) {
	p := &puller{
		next:  "$JS.API.CONSUMER.MSG.NEXT." + stream + "." + consumer,
		inbox: nc.NewInbox(),
		// Room for two batches: an old request the loop gave up on may
		// still deliver while the new one does.
		ch:   make(chan *natsgo.Msg, 2*prefetch+64),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	var err error
	p.nsub, err = nc.ChanSubscribe(p.inbox, p.ch)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// pullLoop runs until p.stop is closed, handling each message with
// s.handleJS, or with up to s.conc goroutines at once.
func (s *subscription) pullLoop(p *puller) {
	defer close(p.done)
	b := s.b
	reconnected := b.nc.StatusChanged(natsgo.CONNECTED)
	defer b.nc.RemoveStatusListener(reconnected)

	batch := s.batch()
	req, _ := json.Marshal(pullRequest{Batch: batch, Expires: pullExpiry, Heartbeat: pullHeartbeat})
	outstanding := 0
	request := func() {
		if err := b.nc.PublishRequest(p.next, p.inbox, req); err != nil && !errors.Is(err, natsgo.ErrConnectionClosed) {
			b.log.Debug("nats: pull request", "consumer", s.consumer, "err", err)
		}
		outstanding = batch
	}
	// With broker.Concurrency(n), up to n messages are handled at once,
	// each by a goroutine of s.pool holding one of the n slots; a message
	// waits here for a free slot, and the next request goes out once the
	// batch has been handed to handlers (rather than handled).
	var slots chan struct{}
	if s.conc > 1 {
		slots = make(chan struct{}, s.conc)
	}
	watchdog := time.NewTimer(pullWatchdog)
	defer watchdog.Stop()
	request()
	for {
		select {
		case m := <-p.ch:
			watchdog.Reset(pullWatchdog)
			if m.Reply == "" { // a status: JetStream messages carry their ack subject
				switch code := m.Header.Get("Status"); code {
				case "100": // idle heartbeat
				case "404", "408": // no messages, or the request expired
					request()
				default: // 409 and others: the server ended the request
					b.log.Debug("nats: pull request ended", "consumer", s.consumer,
						"status", code, "description", m.Header.Get("Description"))
					select {
					case <-p.stop:
						return
					case <-time.After(pullBackoff):
					}
					request()
				}
				continue
			}
			outstanding--
			if slots == nil {
				s.handleJS(m)
			} else {
				select {
				case slots <- struct{}{}:
				case <-p.stop:
					_ = m.Nak() // back to the server at once, as drain does
					return
				}
				if !s.enter() {
					<-slots
					_ = m.Nak()
					continue
				}
				s.pool.Go(func() {
					defer func() { <-slots }()
					defer s.running.Done()
					s.handleEntered(m)
				})
			}
			if outstanding <= 0 {
				request()
			}
		case <-reconnected:
			// The request died with the old connection.
			request()
		case <-watchdog.C:
			request()
			watchdog.Reset(pullWatchdog)
		case <-p.stop:
			return
		}
	}
}

// drain hands the messages still buffered back to the server at once, once
// the loop has ended and the inbox is unsubscribed.
func (p *puller) drain() {
	for {
		select {
		case m := <-p.ch:
			if m.Reply != "" {
				_ = m.Nak()
			}
		default:
			return
		}
	}
}
