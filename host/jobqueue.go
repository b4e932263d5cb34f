package host

// jobQueue is the FIFO of requests waiting for Python, oldest first. It is
// guarded by pythonSlots.mu. Popping advances a head index, and the
// backing array is compacted once half of it is spent, so a queue that
// never empties under sustained load does not grow without bound.
type jobQueue struct {
	items []*job
	head  int
}

func (q *jobQueue) len() int { return len(q.items) - q.head }

func (q *jobQueue) push(j *job) {
	if q.head > 32 && q.head*2 >= len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, j)
}

// pushFront puts j before every waiting job (a release of a sent
// response: handler.sendParked).
func (q *jobQueue) pushFront(j *job) {
	if q.head > 0 {
		q.head--
		q.items[q.head] = j
		return
	}
	q.items = append(q.items, nil)
	copy(q.items[1:], q.items)
	q.items[0] = j
}

// pop takes the oldest request, or nil.
func (q *jobQueue) pop() *job {
	if q.head == len(q.items) {
		return nil
	}
	j := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return j
}

// remove takes j out of the queue wherever it is; false if it is not
// there (a runner took it already).
func (q *jobQueue) remove(j *job) bool {
	for i := q.head; i < len(q.items); i++ {
		if q.items[i] == j {
			copy(q.items[i:], q.items[i+1:])
			q.items[len(q.items)-1] = nil
			q.items = q.items[:len(q.items)-1]
			if q.head == len(q.items) {
				q.items, q.head = q.items[:0], 0
			}
			return true
		}
	}
	return false
}
