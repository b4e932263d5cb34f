package main

// The Kubernetes manifests (deploy/kubernetes) must parse and must name
// what the binary really serves and honours: the container ports are the
// --bind and --metrics-bind ports, the probes' paths answer 200 on the
// metrics port of a gowsgi started with the manifest's own flags, and the
// grace period outlasts the drain (preStop + --graceful-timeout + the
// master's 5 s margin).

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type k8sProbe struct {
	HTTPGet struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom struct {
			ResourceFieldRef struct {
				Resource string `yaml:"resource"`
			} `yaml:"resourceFieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  k8sProbe `yaml:"livenessProbe"`
	Lifecycle      struct {
		PreStop struct {
			Exec struct {
				Command []string `yaml:"command"`
			} `yaml:"exec"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
}

type k8sDeployment struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Template struct {
			Spec struct {
				TerminationGracePeriodSeconds int            `yaml:"terminationGracePeriodSeconds"`
				Containers                    []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sService struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Ports []struct {
			Name       string    `yaml:"name"`
			Port       int       `yaml:"port"`
			TargetPort yaml.Node `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

func decodeManifest(t *testing.T, name string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// flagValue returns --name=value (or --name value) from args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

func portOf(t *testing.T, hostPort string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

func TestKubernetesManifests(t *testing.T) {
	var dep k8sDeployment
	var svc k8sService
	decodeManifest(t, "deployment.yaml", &dep)
	decodeManifest(t, "service.yaml", &svc)
	if dep.Kind != "Deployment" || svc.Kind != "Service" {
		t.Fatalf("kinds %q, %q", dep.Kind, svc.Kind)
	}
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	bind, ok1 := flagValue(c.Args, "bind")
	metricsBind, ok2 := flagValue(c.Args, "metrics-bind")
	graceText, ok3 := flagValue(c.Args, "graceful-timeout")
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("args lack --bind, --metrics-bind or --graceful-timeout: %v", c.Args)
	}
	if ports["http"] != portOf(t, bind) {
		t.Errorf("container port http %d, but --bind %s", ports["http"], bind)
	}
	if ports["metrics"] != portOf(t, metricsBind) {
		t.Errorf("container port metrics %d, but --metrics-bind %s", ports["metrics"], metricsBind)
	}
	probes := map[string]k8sProbe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe}
	for kind, p := range probes {
		if port := p.HTTPGet.Port.Value; port != "metrics" && port != strconv.Itoa(ports["metrics"]) {
			t.Errorf("%s probe on port %q, not the metrics port", kind, port)
		}
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probe paths: readiness %q, liveness %q", c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
	}
	for _, p := range svc.Spec.Ports {
		if target := p.TargetPort.Value; ports[target] == 0 {
			t.Errorf("Service port %s targets %q, not a named container port", p.Name, target)
		}
	}

	// The grace period outlasts the whole stop: the preStop sleep, then
	// --graceful-timeout, then the master's 5 s before SIGKILL.
	grace, err := time.ParseDuration(graceText)
	if err != nil {
		t.Fatal(err)
	}
	var preStop time.Duration
	if cmd := c.Lifecycle.PreStop.Exec.Command; len(cmd) == 2 && cmd[0] == "sleep" {
		n, _ := strconv.Atoi(cmd[1])
		preStop = time.Duration(n) * time.Second
	}
	if period := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second; period <= preStop+grace+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %s is not above preStop %s + --graceful-timeout %s + 5 s", period, preStop, grace)
	}
	workersFromCPU := false
	for _, e := range c.Env {
		if e.Name == "GOWSGI_WORKERS" && e.ValueFrom.ResourceFieldRef.Resource == "limits.cpu" {
			workersFromCPU = true
		}
	}
	if !workersFromCPU || c.Resources.Limits["cpu"] == "" || c.Resources.Requests["memory"] == "" {
		t.Errorf("GOWSGI_WORKERS must come from limits.cpu, with a CPU limit and a memory request: %+v %+v", c.Env, c.Resources)
	}

	// Start gowsgi with the manifest's own flags (addresses made local, the
	// app a test app, the workers as a CPU limit of 2 gives) and GET the
	// probe paths the manifest names on the metrics port.
	var args []string
	for _, a := range c.Args[:len(c.Args)-1] { // the last one is the APP
		if strings.HasPrefix(a, "--bind") || strings.HasPrefix(a, "--metrics-bind") {
			continue
		}
		args = append(args, a)
	}
	args = append(args, "--metrics-bind", "127.0.0.1:0")
	t.Setenv("GOWSGI_WORKERS", "2") // as the Downward API sets it
	ws := startWorkers(t, args...)
	ws.waitReady(t, 2)
	base := opsURL(t, ws.testServer)
	waitReady(t, base)
	for kind, p := range probes {
		if code, body := probe(t, base+p.HTTPGet.Path); code != 200 {
			t.Errorf("%s probe %s: %d %q", kind, p.HTTPGet.Path, code, body)
		}
	}
}
