package host

import (
	"fmt"
	"net"
	"strings"
)

// Errors for the common mistakes are one line saying what failed, then a
// line "hint: ..." saying what to do. cmd/gowsgi prints both with its
// "gowsgi: " prefix (see SplitHint).

// hintSeparator joins an error's message and its hint.
const hintSeparator = "\nhint: "

// SplitHint splits an error message into its line and its hint ("" if none).
func SplitHint(msg string) (line, hint string) {
	line, hint, _ = strings.Cut(msg, hintSeparator)
	return line, hint
}

// withHint is an error whose message ends with a hint line.
func withHint(hint string, format string, args ...any) error {
	return fmt.Errorf(format+hintSeparator+"%s", append(args, hint)...)
}

// addressInUseError names the busy address and how to find what holds it.
func addressInUseError(bind string) error {
	_, port, _ := net.SplitHostPort(bind)
	return withHint(fmt.Sprintf("stop the other server (`ss -ltnp 'sport = :%s'` shows it) or choose another address with --bind", port),
		"listen on %s: address already in use (another server is running there)", bind)
}

// lowPortError explains why a port below 1024 is refused to a non-root user.
func lowPortError(bind string) error {
	_, port, _ := net.SplitHostPort(bind)
	return withHint(fmt.Sprintf("port %s is below 1024: use a port >= 1024 such as 8000 (behind a proxy for 80/443), run as root, or grant the binary the capability: sudo setcap cap_net_bind_service=+ep $(command -v gowsgi)", port),
		"listen on %s: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)", bind)
}

// pythonVersionError is a venv made by another Python minor version than
// the libpython gowsgi is linked with.
func pythonVersionError(venv, venvVersion, built string) error {
	return withHint(fmt.Sprintf("rebuild gowsgi for it (PYTHON=python%s make build), or make the virtualenv with Python %s (python%s -m venv %s)", venvVersion, built, built, venv),
		"the virtualenv %s (--virtualenv, which defaults to $VIRTUAL_ENV) is Python %s but gowsgi was built against Python %s", venv, venvVersion, built)
}
