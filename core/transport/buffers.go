package transport

import (
	"math/bits"
	"sync"
)

// Stream messages are received into pooled buffers, which RecvMsg gives back
// once it decoded the message: a steady stream allocates nothing per message
// for its frames. Every other frame (requests, responses, frames whose
// reader keeps them) is allocated as before and left to the garbage
// collector. Buffers go by powers of two from minPooled to maxPooled bytes.
const (
	minPooledShift = 8
	maxPooledShift = 16
	maxPooled      = 1 << maxPooledShift
)

var (
	bufPools   [maxPooledShift - minPooledShift + 1]sync.Pool // of *[]byte
	framePool  = sync.Pool{New: func() any { return new(Frame) }}
	encodePool = sync.Pool{New: func() any { return new([]byte) }}
)

func bufClass(n int) int {
	if n <= 1<<minPooledShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minPooledShift
}

// pooledBuf returns a buffer of n bytes, at most maxPooled, from the pools.
func pooledBuf(n int) *[]byte {
	c := bufClass(n)
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n, 1<<(c+minPooledShift))
	return &b
}

// newFrameFor returns the frame to decode buf into: a pooled one when buf
// came from the pools, so that releaseFrame can give both back.
func newFrameFor(buf *[]byte) *Frame {
	if buf == nil {
		return new(Frame)
	}
	return framePool.Get().(*Frame)
}

// releaseFrame gives a frame received into the pooled buffer buf back to
// the pools; f and its Body must not be used after. Nothing happens when
// buf is nil (the frame was not pooled).
func releaseFrame(f *Frame, buf *[]byte) {
	if buf == nil {
		return
	}
	*f = Frame{}
	bufPools[bufClass(cap(*buf))].Put(buf)
	framePool.Put(f)
}
