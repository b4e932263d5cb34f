package host

import (
	"net/http"
)

// requestLimits are gunicorn's --limit-request-* settings, checked before
// the app is called (0 = unlimited).
type requestLimits struct {
	line      int   // method + " " + URI + " " + protocol; 414
	fields    int   // number of header lines; 431
	fieldSize int   // one "Name: value" line; 431
	body      int64 // request body bytes; 413
}

func (c *Config) requestLimits() requestLimits {
	return requestLimits{c.LimitRequestLine, c.LimitRequestFields, c.LimitRequestFieldSize, c.LimitRequestBody}
}

// maxHeaderBytes bounds what net/http buffers for a request head before
// the finer checks run (it answers 431 beyond it itself).
func (l requestLimits) maxHeaderBytes() int {
	if l.line == 0 || l.fields == 0 || l.fieldSize == 0 {
		return http.DefaultMaxHeaderBytes
	}
	return l.line + l.fields*(l.fieldSize+2) + 4096
}

// check returns the status refusing r's head, or 0 when it fits.
func (l requestLimits) check(r *http.Request) int {
	if l.line > 0 && len(r.Method)+len(r.RequestURI)+len(r.Proto)+2 > l.line {
		return http.StatusRequestURITooLong
	}
	fields := 0
	if r.Host != "" {
		fields++
	}
	for name, values := range r.Header {
		fields += len(values)
		if l.fieldSize > 0 {
			for _, v := range values {
				if len(name)+2+len(v) > l.fieldSize {
					return http.StatusRequestHeaderFieldsTooLarge
				}
			}
		}
	}
	if l.fieldSize > 0 && len("Host")+2+len(r.Host) > l.fieldSize {
		return http.StatusRequestHeaderFieldsTooLarge
	}
	if l.fields > 0 && fields > l.fields {
		return http.StatusRequestHeaderFieldsTooLarge
	}
	if l.body > 0 && r.ContentLength > l.body {
		return http.StatusRequestEntityTooLarge
	}
	return 0
}
