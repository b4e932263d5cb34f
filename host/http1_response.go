package host

import (
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
)

// http1Response is the fast path's http.ResponseWriter. It keeps net/http's
// rules for what goes on the wire, so a handler cannot tell them apart:
//   - the head waits for the first body byte; a response without a
//     Content-Length is held back up to 2 KiB, then sent chunked, unless
//     the handler ends first (then it gets a Content-Length);
//   - Date is added, Content-Type sniffed when the handler set none;
//   - 204/304 and HEAD responses carry no body; writes are refused or eaten;
//   - a request body the handler left unread is discarded (up to 256 KiB)
//     before the head is sent, or the connection is closed after it.
//
// The head and a small body leave in one write(2); a large body joins the
// buffered head in one writev(2).
type http1Response struct {
	c     *http1Conn
	req   *http.Request
	store *headerStore // the header map's; nil until Header is called

	status        int
	wroteHeader   bool  // WriteHeader called: the status is fixed
	headSent      bool  // the head is in c.out or on the wire
	contentLength int64 // declared by the handler, or -1
	written       int64 // body bytes the handler wrote
	chunked       bool
	flushed       bool   // Flush was called: no more holding back
	closeAfter    bool   // the connection ends after this response
	early         []byte // body held back while the length is unknown
	err           error  // the first write error: the connection is broken
}

// bufferBeforeChunking is net/http's: a body this small, written without
// a flush, is sent with a Content-Length rather than chunked.
const bufferBeforeChunking = 2048

// maxUnreadBodyDiscard is net/http's maxPostHandlerReadBytes.
const maxUnreadBodyDiscard = 256 << 10

// reset readies w for the next request. The last response's header map
// went back with releaseHeader (after a panic the connection ends, and
// its map with it), so w starts without one.
func (w *http1Response) reset(c *http1Conn, req *http.Request) {
	*w = http1Response{c: c, req: req, contentLength: -1, early: w.early[:0]}
}

// Header takes a header store on first use.
func (w *http1Response) Header() http.Header {
	if w.store == nil {
		w.store = takeHeaderStore()
	}
	return w.store.h
}

// header is the response's header map for its own reads: nil (empty)
// until the handler asked for it.
func (w *http1Response) header() http.Header {
	if w.store == nil {
		return nil
	}
	return w.store.h
}

// headerStorage is the store applyHead copies the app's header values
// into (see exchange.StartResponse).
func (w *http1Response) headerStorage() *headerStore {
	w.Header()
	return w.store
}

// releaseHeader gives the header store back once the response is complete.
func (w *http1Response) releaseHeader() {
	if w.store != nil {
		w.store.release()
		w.store = nil
	}
}

func (w *http1Response) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code)) // net/http's contract
	}
	if code < 200 {
		return // 1xx: handlers here never send them; net/http would
	}
	w.wroteHeader = true
	w.status = code
	if cl := w.header()["Content-Length"]; len(cl) > 0 && cl[0] != "" {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			w.contentLength = n
		} else {
			delete(w.header(), "Content-Length") // as net/http: a bad one is dropped
		}
	}
}

// bodyAllowed: 1xx, 204 and 304 responses have no body (RFC 9110).
func bodyAllowed(code int) bool {
	return code != http.StatusNoContent && code != http.StatusNotModified && code >= 200
}

func (w *http1Response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.contentLength >= 0 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.req.Method == http.MethodHead {
		if !w.headSent && len(w.early) < sniffLen {
			w.early = append(w.early, p[:min(len(p), sniffLen-len(w.early))]...) // for sniffing only
		}
		return len(p), nil // HEAD: eaten
	}
	// As net/http's 2 KiB response buffer: the head waits for the first
	// 2 KiB, so that a small body's length and type are known when it goes.
	if !w.headSent && !w.flushed && len(w.early)+len(p) <= bufferBeforeChunking {
		w.early = append(w.early, p...)
		return len(p), nil
	}
	w.sendHead(false, w.sniffable(p))
	if len(w.early) > 0 {
		w.body(w.early)
		w.early = w.early[:0]
	}
	w.body(p)
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// sniffLen is how much of a body http.DetectContentType looks at.
const sniffLen = 512

// sniffable is the start of the body, held-back bytes then p, as far as
// Content-Type sniffing reads it; nil when the handler set a type.
func (w *http1Response) sniffable(p []byte) []byte {
	if _, ok := w.header()["Content-Type"]; ok || w.headSent {
		return nil
	}
	switch {
	case len(w.early) == 0:
		return p
	case len(w.early) >= sniffLen || len(p) == 0:
		return w.early
	}
	n := min(len(p), sniffLen-len(w.early))
	return append(w.early[:len(w.early):len(w.early)], p[:n]...)
}

// WriteString keeps io.WriteString from copying into a new slice.
func (w *http1Response) WriteString(s string) (int, error) {
	return w.Write([]byte(s))
}

// body queues p as body bytes (one chunk when chunked).
func (w *http1Response) body(p []byte) {
	if len(p) == 0 || w.err != nil {
		return
	}
	c := w.c
	if w.chunked {
		c.out = strconv.AppendInt(c.out, int64(len(p)), 16)
		c.out = append(c.out, '\r', '\n')
		w.err = c.send(p, crlf)
		return
	}
	w.err = c.send(p, nil)
}

// sendHead writes the status line and headers into c.out, once. done says
// the handler has returned: a held-back body then gets its length. first
// is the start of the body, to sniff a Content-Type from.
func (w *http1Response) sendHead(done bool, first []byte) {
	if w.headSent {
		return
	}
	w.headSent = true
	c := w.c
	h := w.header()
	isHead := w.req.Method == http.MethodHead

	// A handler's Transfer-Encoding is not honoured (gowsgi's handlers
	// never set one: it is hop-by-hop, and apps' are dropped); the
	// framing below is decided here alone.
	delete(h, "Transfer-Encoding")
	handlerConn := ""
	if v := h["Connection"]; len(v) > 0 {
		handlerConn = v[0]
	}
	closing := c.front.closing.Load()
	if closing || w.req.Close || handlerConn == "close" { // net/http's tests, exactly
		w.closeAfter = true
	}
	// The unread part of the request body: discard it now, or close (a
	// closing connection never waits for it: the 413 for a body too
	// large must not wait for that body).
	if b := &c.body; (b.remaining > 0 || b.err != nil) && !w.closeAfter {
		if b.closed || b.err != nil || b.remaining >= maxUnreadBodyDiscard || b.discard() != nil {
			w.closeAfter = true // (http1Conn.close lingers for unread bytes)
		}
	}

	_, haveType := h["Content-Type"]
	var setLength, setType, setEncoding string
	if done && w.contentLength < 0 && bodyAllowed(w.status) {
		// The handler ended without a length and without a flush: the
		// whole body is known (net/http: "even to zero"). For HEAD only
		// a small, non-empty one, since an empty one may mean the
		// handler skipped the body on purpose.
		switch {
		case !isHead:
			w.contentLength = int64(len(w.early))
			setLength = strconv.Itoa(len(w.early))
		case w.written > 0 && w.written <= bufferBeforeChunking:
			setLength = strconv.FormatInt(w.written, 10)
		}
	}
	switch {
	case isHead || !bodyAllowed(w.status):
	case w.contentLength >= 0:
	default:
		w.chunked = true
		setEncoding = "chunked"
	}
	if bodyAllowed(w.status) {
		if !haveType && len(first) > 0 && h.Get("Content-Encoding") == "" {
			setType = http.DetectContentType(first)
		}
	} else {
		delete(h, "Content-Length")
		delete(h, "Transfer-Encoding")
		if w.status == http.StatusNotModified {
			delete(h, "Content-Type")
		}
	}
	setConnection := w.closeAfter && (closing || !hasTokenASCII(handlerConn, "close"))
	if setConnection {
		delete(h, "Connection")
	}

	c.takeOut()
	out := c.out
	out = append(out, "HTTP/1.1 "...)
	if w.store != nil && w.store.reasonCode == w.status {
		out = strconv.AppendInt(out, int64(w.status), 10)
		out = append(out, ' ')
		out = append(out, w.store.reason...)
	} else if text := http.StatusText(w.status); text != "" {
		out = strconv.AppendInt(out, int64(w.status), 10)
		out = append(out, ' ')
		out = append(out, text...)
	} else {
		out = append(out, fmtStatus(w.status)...)
	}
	out = append(out, '\r', '\n')
	var keys []string
	if w.store != nil {
		keys = w.store.keys[:0]
	}
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys) // net/http sends them sorted
	if w.store != nil {
		w.store.keys = keys
	}
	for _, k := range keys {
		if (k == "Content-Length" && w.chunked) || !isToken(k) {
			continue // a name that is not a token could split the response
		}
		for _, v := range h[k] {
			out = append(out, k...)
			out = append(out, ':', ' ')
			out = appendFieldValue(out, v)
			out = append(out, '\r', '\n')
		}
	}
	if _, ok := h["Date"]; !ok {
		out = append(out, "Date: "...)
		out = c.appendDate(out)
		out = append(out, '\r', '\n')
	}
	if setLength != "" {
		out = append(out, "Content-Length: "...)
		out = append(out, setLength...)
		out = append(out, '\r', '\n')
	}
	if setType != "" {
		out = append(out, "Content-Type: "...)
		out = append(out, setType...)
		out = append(out, '\r', '\n')
	}
	if setConnection {
		out = append(out, "Connection: close\r\n"...)
	}
	if setEncoding != "" {
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
	}
	c.out = append(out, '\r', '\n')
}

func fmtStatus(code int) string {
	s := strconv.Itoa(code)
	for len(s) < 3 {
		s = "0" + s
	}
	return s + " status code " + strconv.Itoa(code)
}

// appendFieldValue writes v as net/http does: CR and LF become spaces,
// surrounding spaces go.
func appendFieldValue(out []byte, v string) []byte {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	return append(out, textproto.TrimString(v)...)
}

// FlushError sends what is buffered (http.ResponseController's Flush).
func (w *http1Response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.flushed = true
	if w.err != nil {
		return w.err
	}
	w.sendHead(false, w.sniffable(nil))
	if len(w.early) > 0 && w.req.Method != http.MethodHead {
		w.body(w.early)
	}
	w.early = w.early[:0]
	if w.err == nil {
		w.err = w.c.flush()
	}
	return w.err
}

func (w *http1Response) Flush() { _ = w.FlushError() }

// finish completes the response after the handler returned and pushes it
// out. It reports whether the connection can serve another request.
func (w *http1Response) finish() bool {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.sendHead(true, w.sniffable(nil))
	if w.req.Method != http.MethodHead && len(w.early) > 0 {
		w.body(w.early)
	}
	w.early = w.early[:0]
	if w.chunked && w.err == nil {
		w.c.out = append(w.c.out, "0\r\n\r\n"...)
	}
	if w.err == nil {
		w.err = w.c.flush()
	}
	if w.contentLength >= 0 && w.written != w.contentLength && bodyAllowed(w.status) && w.req.Method != http.MethodHead {
		return false // a short (or refused long) body: the framing is off, end it
	}
	return w.err == nil && !w.closeAfter
}

// ReadFrom sends src through sendfile(2) where the socket can, as
// net/http's response does: the head goes first, then the kernel copies.
func (w *http1Response) ReadFrom(src io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	rf, ok := w.c.rwc.(io.ReaderFrom)
	_, haveType := w.header()["Content-Type"]
	if !ok || w.chunked || w.contentLength < 0 || !haveType || w.req.Method == http.MethodHead || !bodyAllowed(w.status) {
		// Sniffing, chunking or eating needs the bytes: plain copy.
		return io.Copy(writerOnly{w}, src)
	}
	w.sendHead(false, nil)
	w.body(w.early) // what the handler wrote before, held back
	w.early = w.early[:0]
	// (rest is compared in int64: a Content-Length near the top of its
	// range would overflow the sum in int.)
	if rest := w.contentLength - w.written; w.err == nil && rest > 0 && rest <= int64(http1MaxCoalesce-len(w.c.out)) {
		return w.readSmall(src, int(rest))
	}
	if w.err == nil {
		w.err = w.c.flush()
	}
	if w.err != nil {
		return 0, w.err
	}
	// Not limited here: a wrapper would hide the *os.File (or the
	// LimitedReader over it) that sendfile needs; callers send only
	// what the Content-Length says, as with net/http.
	if lowat := w.c.front.notsentLowat; lowat > 0 && w.c.raw != nil {
		if before, ok := raiseNotsentLowat(w.c.raw, lowat); ok {
			defer restoreNotsentLowat(w.c.raw, before)
		}
	}
	n, err := rf.ReadFrom(src)
	w.written += n
	if err != nil {
		w.err = err
	}
	return n, err
}

// readSmall reads the rest of a small body (n bytes at most) into the
// buffer behind the head, which then leave in one write(2): sendfile
// would first send the head on its own, and the client would be woken
// for it alone (a static file or a file_wrapper's of a few KiB). A
// source that ends early leaves a short body, as sendfile does; one that
// fails still sends the head and what it gave, as sendfile would have,
// so the client sees a short body rather than no response at all.
func (w *http1Response) readSmall(src io.Reader, n int) (int64, error) {
	c := w.c
	out := slices.Grow(c.out, n)
	m, err := io.ReadFull(src, out[len(out):len(out)+n])
	c.out = out[:len(out)+m]
	w.written += int64(m)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	if ferr := c.flush(); err == nil {
		err = ferr
	}
	if err != nil {
		w.err = err
	}
	return int64(m), err
}

// writerOnly hides ReadFrom so io.Copy does not call it again.
type writerOnly struct{ io.Writer }

// SetReadDeadline and SetWriteDeadline give the handler per-operation
// deadlines, as http.ResponseController does on net/http's writer.
func (w *http1Response) SetReadDeadline(t time.Time) error {
	w.c.readDeadlineSet = true
	return w.c.rwc.SetReadDeadline(t)
}

func (w *http1Response) SetWriteDeadline(t time.Time) error {
	w.c.writeDeadlineSet = true
	return w.c.rwc.SetWriteDeadline(t)
}

var _ interface {
	http.ResponseWriter
	http.Flusher
	io.ReaderFrom
	deadliner
} = (*http1Response)(nil)
