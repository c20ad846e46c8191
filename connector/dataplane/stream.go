package dataplane

import (
	"context"
	"errors"
	"hash"
	"io"
	"sync"
)

// bufferPool hands out fixed-size buffers; a stream holds at most `depth` of
// them, so memory per stream is depth × size whatever the object's size.
type bufferPool struct {
	size, depth int
	pool        sync.Pool
}

func newBufferPool(size, depth int) *bufferPool {
	p := &bufferPool{size: size, depth: depth}
	p.pool.New = func() any { b := make([]byte, size); return &b }
	return p
}

type chunk struct {
	buf *[]byte
	n   int
}

// hashCopy copies n bytes from src to dst (until EOF when n < 0), writing
// every byte into h as well. One goroutine reads and hashes a buffer while the
// caller's goroutine writes the previous one, so hashing overlaps the network
// or disk write. beforeWrite, if set, runs before each write (to extend a write
// deadline). It returns the bytes written; on error the reader goroutine has
// stopped before hashCopy returns. Closing src is the caller's job, and the
// caller should close it when ctx is done to unblock a slow read.
func hashCopy(ctx context.Context, dst io.Writer, src io.Reader, n int64, h hash.Hash, bufs *bufferPool, beforeWrite func() error) (int64, error) {
	free := make(chan *[]byte, bufs.depth)
	for range bufs.depth {
		free <- bufs.pool.Get().(*[]byte)
	}
	full := make(chan chunk, bufs.depth)
	stop := make(chan struct{})
	var readErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(full)
		remaining := n
		for remaining != 0 {
			select {
			case <-stop:
				return
			default:
			}
			var b *[]byte
			select {
			case b = <-free:
			case <-stop:
				return
			case <-ctx.Done():
				readErr = ctx.Err()
				return
			}
			want := len(*b)
			if remaining > 0 && remaining < int64(want) {
				want = int(remaining)
			}
			m, err := io.ReadFull(src, (*b)[:want])
			if m > 0 {
				h.Write((*b)[:m])
				if remaining > 0 {
					remaining -= int64(m)
				}
				select {
				case full <- chunk{b, m}:
				case <-stop:
					free <- b
					return
				}
			} else {
				free <- b
			}
			if err != nil {
				if n < 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
					return
				}
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				readErr = err
				return
			}
		}
	}()

	var written int64
	var writeErr error
	for c := range full {
		if writeErr == nil && beforeWrite != nil {
			writeErr = beforeWrite()
		}
		if writeErr == nil {
			var m int
			m, writeErr = dst.Write((*c.buf)[:c.n])
			written += int64(m)
			if writeErr != nil {
				close(stop)
			}
		}
		free <- c.buf
	}
	wg.Wait()
	close(free)
	for b := range free {
		bufs.pool.Put(b)
	}
	if writeErr != nil {
		return written, writeErr
	}
	if readErr != nil {
		return written, &readError{readErr}
	}
	return written, nil
}

// readError marks a failure of the source, as opposed to the destination.
type readError struct{ err error }

func (e *readError) Error() string { return "dataplane: reading the source: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

func isReadError(err error) bool {
	var re *readError
	return errors.As(err, &re)
}
