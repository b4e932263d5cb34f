// Package environ turns an *http.Request into the CGI/WSGI variables of
// PEP 3333 and RFC 3875, as an ordered list of (key, value) byte strings.
//
// It is pure Go (no cgo) and knows nothing of Python: the bridge decodes
// each value as latin-1, byte for byte, and adds the entries that are Python
// objects (wsgi.input, wsgi.errors, wsgi.file_wrapper, wsgi.version,
// wsgi.multithread, wsgi.multiprocess, wsgi.run_once,
// wsgi.input_terminated). Build runs on every request, so it allocates only
// the strings it must create: uncommon header keys, joined repeated
// headers, a decoded PATH_INFO when the path holds %XX, a CONTENT_LENGTH of
// 100 or more.
//
// What it does:
//
//   - PATH_INFO is the path from r.RequestURI percent-decoded to raw bytes
//     ("%2F" becomes "/", as in gunicorn; an invalid escape stays literal,
//     though net/http already answers 400 to one in the path).
//     With Config.ScriptName set, that prefix is removed when the path
//     starts with it at a segment boundary; otherwise the path is kept
//     whole and SCRIPT_NAME is still the configured prefix (a proxy may
//     already have stripped it). QUERY_STRING is raw.
//   - Every request header becomes HTTP_<NAME> (upper case, '-' → '_'),
//     repeats joined with ", " in order, Cookie with "; ". A name holding
//     '_' or any byte other than letters, digits and '-' is dropped, so
//     X_Forwarded_For can never pose as X-Forwarded-For.
//     Content-Type and Content-Length appear only as CONTENT_TYPE and
//     CONTENT_LENGTH; HTTP_HOST comes from r.Host.
//   - SERVER_NAME and SERVER_PORT come from the Host (port by scheme when
//     absent), falling back to the listener's address.
//   - From a trusted peer (Config.ForwardedAllow, or any unix-socket peer),
//     RFC 7239 Forwarded or else X-Forwarded-For/-Proto/-Host set
//     REMOTE_ADDR (and REMOTE_PORT when the header gives one, otherwise
//     REMOTE_PORT is omitted), wsgi.url_scheme, HTTP_HOST and
//     SERVER_NAME/SERVER_PORT. The client address is the right-most
//     untrusted entry. From any other peer those headers are plain HTTP_*
//     entries and change nothing. The front proxy must set or strip the
//     header it is trusted for: a Forwarded header passed through from the
//     client takes precedence over X-Forwarded-*.
//
// What it does not do: validate the request (net/http has already
// rejected malformed requests), read the body, decode the query, honour
// X-Forwarded-Port, X-Forwarded-Ssl or X-Real-Ip, or filter the httpoxy
// "Proxy" header (HTTP_PROXY lives only in the environ dict, never in
// os.environ).
//
// Build expects a server request. Hand-built requests (tests) work: an
// empty RequestURI falls back to r.URL, and without
// http.LocalAddrContextKey in the context a RemoteAddr of "", "@…" or
// "/…" is taken for a unix-socket peer. Forwarding headers are looked up
// under their canonical names only.
package environ
