package environ

import (
	"slices"
	"strings"
)

// Indices into knownKeys. The order is part of the contract with the bridge
// (it interns KnownKeys() once and looks entries up with KeyIndex), so only
// append; never reorder.
const (
	kRequestMethod = iota
	kScriptName
	kPathInfo
	kQueryString
	kContentType
	kContentLength
	kServerName
	kServerPort
	kServerProtocol
	kRemoteAddr
	kRemotePort
	kRawURI
	kRequestURI
	kURLScheme

	// The common request headers. The first fourteen above are every
	// non-HTTP_ key Build can emit.
	kHost
	kUserAgent
	kAccept
	kAcceptEncoding
	kAcceptLanguage
	kAcceptCharset
	kConnection
	kCookie
	kReferer
	kOrigin
	kAuthorization
	kCacheControl
	kPragma
	kUpgradeInsecureRequests
	kIfNoneMatch
	kIfModifiedSince
	kIfMatch
	kIfRange
	kRange
	kXForwardedFor
	kXForwardedProto
	kXForwardedHost
	kXForwardedPort
	kForwarded
	kXRealIP
	kXRequestedWith
	kXRequestID
	kXCSRFToken
	kDNT
	kSecFetchDest
	kSecFetchMode
	kSecFetchSite
	kSecFetchUser
	kSecCHUA
	kSecCHUAMobile
	kSecCHUAPlatform
	kPriority
	kTE
	kExpect
	kUpgrade
	kKeepAlive
	kVia

	numKnownKeys
)

// The key strings, as constants so that Build, the header table and
// KeyIndex all spell them once.
const (
	keyRequestMethod  = "REQUEST_METHOD"
	keyScriptName     = "SCRIPT_NAME"
	keyPathInfo       = "PATH_INFO"
	keyQueryString    = "QUERY_STRING"
	keyContentType    = "CONTENT_TYPE"
	keyContentLength  = "CONTENT_LENGTH"
	keyServerName     = "SERVER_NAME"
	keyServerPort     = "SERVER_PORT"
	keyServerProtocol = "SERVER_PROTOCOL"
	keyRemoteAddr     = "REMOTE_ADDR"
	keyRemotePort     = "REMOTE_PORT"
	keyRawURI         = "RAW_URI"
	keyRequestURI     = "REQUEST_URI"
	keyURLScheme      = "wsgi.url_scheme"

	keyHost                    = "HTTP_HOST"
	keyUserAgent               = "HTTP_USER_AGENT"
	keyAccept                  = "HTTP_ACCEPT"
	keyAcceptEncoding          = "HTTP_ACCEPT_ENCODING"
	keyAcceptLanguage          = "HTTP_ACCEPT_LANGUAGE"
	keyAcceptCharset           = "HTTP_ACCEPT_CHARSET"
	keyConnection              = "HTTP_CONNECTION"
	keyCookie                  = "HTTP_COOKIE"
	keyReferer                 = "HTTP_REFERER"
	keyOrigin                  = "HTTP_ORIGIN"
	keyAuthorization           = "HTTP_AUTHORIZATION"
	keyCacheControl            = "HTTP_CACHE_CONTROL"
	keyPragma                  = "HTTP_PRAGMA"
	keyUpgradeInsecureRequests = "HTTP_UPGRADE_INSECURE_REQUESTS"
	keyIfNoneMatch             = "HTTP_IF_NONE_MATCH"
	keyIfModifiedSince         = "HTTP_IF_MODIFIED_SINCE"
	keyIfMatch                 = "HTTP_IF_MATCH"
	keyIfRange                 = "HTTP_IF_RANGE"
	keyRange                   = "HTTP_RANGE"
	keyXForwardedFor           = "HTTP_X_FORWARDED_FOR"
	keyXForwardedProto         = "HTTP_X_FORWARDED_PROTO"
	keyXForwardedHost          = "HTTP_X_FORWARDED_HOST"
	keyXForwardedPort          = "HTTP_X_FORWARDED_PORT"
	keyForwarded               = "HTTP_FORWARDED"
	keyXRealIP                 = "HTTP_X_REAL_IP"
	keyXRequestedWith          = "HTTP_X_REQUESTED_WITH"
	keyXRequestID              = "HTTP_X_REQUEST_ID"
	keyXCSRFToken              = "HTTP_X_CSRFTOKEN"
	keyDNT                     = "HTTP_DNT"
	keySecFetchDest            = "HTTP_SEC_FETCH_DEST"
	keySecFetchMode            = "HTTP_SEC_FETCH_MODE"
	keySecFetchSite            = "HTTP_SEC_FETCH_SITE"
	keySecFetchUser            = "HTTP_SEC_FETCH_USER"
	keySecCHUA                 = "HTTP_SEC_CH_UA"
	keySecCHUAMobile           = "HTTP_SEC_CH_UA_MOBILE"
	keySecCHUAPlatform         = "HTTP_SEC_CH_UA_PLATFORM"
	keyPriority                = "HTTP_PRIORITY"
	keyTE                      = "HTTP_TE"
	keyExpect                  = "HTTP_EXPECT"
	keyUpgrade                 = "HTTP_UPGRADE"
	keyKeepAlive               = "HTTP_KEEP_ALIVE"
	keyVia                     = "HTTP_VIA"

	// Never emitted (the CGI names carry these); used to filter headers
	// from hand-built requests whose names are not canonical.
	keyHTTPContentType   = "HTTP_CONTENT_TYPE"
	keyHTTPContentLength = "HTTP_CONTENT_LENGTH"
)

var knownKeys = [numKnownKeys]string{
	kRequestMethod:  keyRequestMethod,
	kScriptName:     keyScriptName,
	kPathInfo:       keyPathInfo,
	kQueryString:    keyQueryString,
	kContentType:    keyContentType,
	kContentLength:  keyContentLength,
	kServerName:     keyServerName,
	kServerPort:     keyServerPort,
	kServerProtocol: keyServerProtocol,
	kRemoteAddr:     keyRemoteAddr,
	kRemotePort:     keyRemotePort,
	kRawURI:         keyRawURI,
	kRequestURI:     keyRequestURI,
	kURLScheme:      keyURLScheme,

	kHost:                    keyHost,
	kUserAgent:               keyUserAgent,
	kAccept:                  keyAccept,
	kAcceptEncoding:          keyAcceptEncoding,
	kAcceptLanguage:          keyAcceptLanguage,
	kAcceptCharset:           keyAcceptCharset,
	kConnection:              keyConnection,
	kCookie:                  keyCookie,
	kReferer:                 keyReferer,
	kOrigin:                  keyOrigin,
	kAuthorization:           keyAuthorization,
	kCacheControl:            keyCacheControl,
	kPragma:                  keyPragma,
	kUpgradeInsecureRequests: keyUpgradeInsecureRequests,
	kIfNoneMatch:             keyIfNoneMatch,
	kIfModifiedSince:         keyIfModifiedSince,
	kIfMatch:                 keyIfMatch,
	kIfRange:                 keyIfRange,
	kRange:                   keyRange,
	kXForwardedFor:           keyXForwardedFor,
	kXForwardedProto:         keyXForwardedProto,
	kXForwardedHost:          keyXForwardedHost,
	kXForwardedPort:          keyXForwardedPort,
	kForwarded:               keyForwarded,
	kXRealIP:                 keyXRealIP,
	kXRequestedWith:          keyXRequestedWith,
	kXRequestID:              keyXRequestID,
	kXCSRFToken:              keyXCSRFToken,
	kDNT:                     keyDNT,
	kSecFetchDest:            keySecFetchDest,
	kSecFetchMode:            keySecFetchMode,
	kSecFetchSite:            keySecFetchSite,
	kSecFetchUser:            keySecFetchUser,
	kSecCHUA:                 keySecCHUA,
	kSecCHUAMobile:           keySecCHUAMobile,
	kSecCHUAPlatform:         keySecCHUAPlatform,
	kPriority:                keyPriority,
	kTE:                      keyTE,
	kExpect:                  keyExpect,
	kUpgrade:                 keyUpgrade,
	kKeepAlive:               keyKeepAlive,
	kVia:                     keyVia,
}

// numCGIKeys is how many leading entries of KnownKeys are the fixed CGI/WSGI
// keys (everything Build emits that is not an HTTP_* header).
const numCGIKeys = kURLScheme + 1

// numHeaderKeys is how many HTTP_* keys the table holds. Build records
// which of them a request has in a uint64, so there may be at most 64.
const numHeaderKeys = numKnownKeys - numCGIKeys

var _ [64 - numHeaderKeys]struct{} // compile-time check: numHeaderKeys <= 64

// headerRank gives each table header key its position in sorted order
// (indexed by knownKeys index - numCGIKeys), and rankedKeys is the inverse.
// Build emits table headers by walking a bitmask of ranks, which is sorted
// output without comparing strings.
var (
	headerRank [numHeaderKeys]uint8
	rankedKeys [numHeaderKeys]string
)

func init() {
	copy(rankedKeys[:], knownKeys[numCGIKeys:])
	slices.Sort(rankedKeys[:])
	for r, k := range rankedKeys {
		headerRank[KeyIndex(k)-numCGIKeys] = uint8(r)
	}
}

// KnownKeys returns the keys the bridge should intern once: every non-HTTP_
// key Build can emit, then the HTTP_* keys of the most common request
// headers. The order is stable across releases (entries are only appended),
// so an index from KeyIndex can address a table built from this list.
// The caller owns the returned slice.
func KnownKeys() []string {
	out := make([]string, numKnownKeys)
	copy(out, knownKeys[:])
	return out
}

// KeyIndex returns the index of key in KnownKeys(), or -1. A string switch
// compiles to a length-then-value binary search: 4.7 ns per key against
// 8.9 ns for a map (BenchmarkKeyIndex).
func KeyIndex(key string) int {
	switch key {
	case keyRequestMethod:
		return kRequestMethod
	case keyScriptName:
		return kScriptName
	case keyPathInfo:
		return kPathInfo
	case keyQueryString:
		return kQueryString
	case keyContentType:
		return kContentType
	case keyContentLength:
		return kContentLength
	case keyServerName:
		return kServerName
	case keyServerPort:
		return kServerPort
	case keyServerProtocol:
		return kServerProtocol
	case keyRemoteAddr:
		return kRemoteAddr
	case keyRemotePort:
		return kRemotePort
	case keyRawURI:
		return kRawURI
	case keyRequestURI:
		return kRequestURI
	case keyURLScheme:
		return kURLScheme
	case keyHost:
		return kHost
	case keyUserAgent:
		return kUserAgent
	case keyAccept:
		return kAccept
	case keyAcceptEncoding:
		return kAcceptEncoding
	case keyAcceptLanguage:
		return kAcceptLanguage
	case keyAcceptCharset:
		return kAcceptCharset
	case keyConnection:
		return kConnection
	case keyCookie:
		return kCookie
	case keyReferer:
		return kReferer
	case keyOrigin:
		return kOrigin
	case keyAuthorization:
		return kAuthorization
	case keyCacheControl:
		return kCacheControl
	case keyPragma:
		return kPragma
	case keyUpgradeInsecureRequests:
		return kUpgradeInsecureRequests
	case keyIfNoneMatch:
		return kIfNoneMatch
	case keyIfModifiedSince:
		return kIfModifiedSince
	case keyIfMatch:
		return kIfMatch
	case keyIfRange:
		return kIfRange
	case keyRange:
		return kRange
	case keyXForwardedFor:
		return kXForwardedFor
	case keyXForwardedProto:
		return kXForwardedProto
	case keyXForwardedHost:
		return kXForwardedHost
	case keyXForwardedPort:
		return kXForwardedPort
	case keyForwarded:
		return kForwarded
	case keyXRealIP:
		return kXRealIP
	case keyXRequestedWith:
		return kXRequestedWith
	case keyXRequestID:
		return kXRequestID
	case keyXCSRFToken:
		return kXCSRFToken
	case keyDNT:
		return kDNT
	case keySecFetchDest:
		return kSecFetchDest
	case keySecFetchMode:
		return kSecFetchMode
	case keySecFetchSite:
		return kSecFetchSite
	case keySecFetchUser:
		return kSecFetchUser
	case keySecCHUA:
		return kSecCHUA
	case keySecCHUAMobile:
		return kSecCHUAMobile
	case keySecCHUAPlatform:
		return kSecCHUAPlatform
	case keyPriority:
		return kPriority
	case keyTE:
		return kTE
	case keyExpect:
		return kExpect
	case keyUpgrade:
		return kUpgrade
	case keyKeepAlive:
		return kKeepAlive
	case keyVia:
		return kVia
	}
	return -1
}

// commonHeader maps a canonical Go header name (textproto's
// CanonicalMIMEHeaderKey form, in which net/http stores request headers) to
// the index of its precomputed HTTP_* key in knownKeys, so the common
// headers cost no allocation. Content-Type and Content-Length map to
// kContentType and kContentLength (they become CONTENT_*, never HTTP_*).
// Any other name gives -1.
func commonHeader(name string) int {
	switch name {
	case "Host":
		return kHost
	case "User-Agent":
		return kUserAgent
	case "Accept":
		return kAccept
	case "Accept-Encoding":
		return kAcceptEncoding
	case "Accept-Language":
		return kAcceptLanguage
	case "Accept-Charset":
		return kAcceptCharset
	case "Connection":
		return kConnection
	case "Cookie":
		return kCookie
	case "Referer":
		return kReferer
	case "Origin":
		return kOrigin
	case "Authorization":
		return kAuthorization
	case "Cache-Control":
		return kCacheControl
	case "Pragma":
		return kPragma
	case "Upgrade-Insecure-Requests":
		return kUpgradeInsecureRequests
	case "If-None-Match":
		return kIfNoneMatch
	case "If-Modified-Since":
		return kIfModifiedSince
	case "If-Match":
		return kIfMatch
	case "If-Range":
		return kIfRange
	case "Range":
		return kRange
	case "X-Forwarded-For":
		return kXForwardedFor
	case "X-Forwarded-Proto":
		return kXForwardedProto
	case "X-Forwarded-Host":
		return kXForwardedHost
	case "X-Forwarded-Port":
		return kXForwardedPort
	case "Forwarded":
		return kForwarded
	case "X-Real-Ip":
		return kXRealIP
	case "X-Requested-With":
		return kXRequestedWith
	case "X-Request-Id":
		return kXRequestID
	case "X-Csrftoken":
		return kXCSRFToken
	case "Dnt":
		return kDNT
	case "Sec-Fetch-Dest":
		return kSecFetchDest
	case "Sec-Fetch-Mode":
		return kSecFetchMode
	case "Sec-Fetch-Site":
		return kSecFetchSite
	case "Sec-Fetch-User":
		return kSecFetchUser
	case "Sec-Ch-Ua":
		return kSecCHUA
	case "Sec-Ch-Ua-Mobile":
		return kSecCHUAMobile
	case "Sec-Ch-Ua-Platform":
		return kSecCHUAPlatform
	case "Priority":
		return kPriority
	case "Te":
		return kTE
	case "Expect":
		return kExpect
	case "Upgrade":
		return kUpgrade
	case "Keep-Alive":
		return kKeepAlive
	case "Via":
		return kVia
	case "Content-Type":
		return kContentType
	case "Content-Length":
		return kContentLength
	}
	return -1
}

// uncommonHeaderKey returns the CGI key for a request header name that
// commonHeader does not know: "HTTP_" + the name upper-cased with '-'
// turned into '_' (one allocation). It returns "" for a name that must be
// dropped: one holding '_' (it would alias the '-' spelling, e.g.
// X_Forwarded_For posing as X-Forwarded-For) or any byte other than ASCII
// letters, digits and '-' (no CGI variable can spell it; nginx drops these
// too).
func uncommonHeaderKey(name string) string {
	if name == "" {
		return ""
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return ""
		}
	}
	var b strings.Builder
	b.Grow(len("HTTP_") + len(name))
	b.WriteString("HTTP_")
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case c == '-':
			c = '_'
		}
		b.WriteByte(c)
	}
	return b.String()
}
