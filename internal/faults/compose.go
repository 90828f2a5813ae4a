package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Compose drives one docker compose project through the docker CLI:
// `docker compose` (Compose v2) where it exists, else `docker-compose`.
// Containers, networks and volumes are found by the labels both versions
// put on them, so nothing depends on how a version names them.
type Compose struct {
	// Project is the compose project name; Files the compose file and the
	// files that override it, in order.
	Project string
	Files   []string
	// Env is added to the environment of every compose command.
	Env []string
	cmd []string
}

// NewCompose finds the compose command. It fails if neither answers.
func NewCompose(ctx context.Context, project string, files, env []string) (*Compose, error) {
	c := &Compose{Project: project, Files: files, Env: env}
	for _, cmd := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		if _, err := run(ctx, nil, append(cmd, "version")...); err == nil {
			c.cmd = cmd
			return c, nil
		}
	}
	return nil, errors.New("neither `docker compose` nor `docker-compose` answers")
}

// Command is the compose command line in use, for messages.
func (c *Compose) Command() string { return strings.Join(c.cmd, " ") }

// Run runs a compose command of the project and returns its output.
func (c *Compose) Run(ctx context.Context, args ...string) (string, error) {
	full := append(append([]string{}, c.cmd...), "-p", c.Project)
	for _, f := range c.Files {
		full = append(full, "-f", f)
	}
	return run(ctx, c.Env, append(full, args...)...)
}

// Docker runs a docker command and returns its output.
func Docker(ctx context.Context, args ...string) (string, error) {
	return run(ctx, nil, append([]string{"docker"}, args...)...)
}

// commandTimeout bounds a docker or compose command whose context has no
// deadline, so that a hung engine fails the test instead of stalling it.
const commandTimeout = 3 * time.Minute

func run(ctx context.Context, env []string, args ...string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, commandTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	s := strings.TrimSpace(out.String())
	if err != nil {
		return s, fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, s)
	}
	return s, nil
}

// Container returns the id of the service's container (running or not).
func (c *Compose) Container(ctx context.Context, service string) (string, error) {
	out, err := Docker(ctx, "ps", "-aq", "--no-trunc",
		"--filter", "label=com.docker.compose.project="+c.Project,
		"--filter", "label=com.docker.compose.service="+service)
	if err != nil {
		return "", err
	}
	ids := strings.Fields(out)
	if len(ids) != 1 {
		return "", fmt.Errorf("service %s: %d containers (%q), want 1", service, len(ids), ids)
	}
	return ids[0], nil
}

// Network returns the docker name of the project's network called name in
// the compose file.
func (c *Compose) Network(ctx context.Context, name string) (string, error) {
	out, err := Docker(ctx, "network", "ls", "--format", "{{.Name}}",
		"--filter", "label=com.docker.compose.project="+c.Project,
		"--filter", "label=com.docker.compose.network="+name)
	if err != nil {
		return "", err
	}
	names := strings.Fields(out)
	if len(names) != 1 {
		return "", fmt.Errorf("network %s: found %q", name, names)
	}
	return names[0], nil
}

// Volume returns the docker name of the project's volume called name in
// the compose file.
func (c *Compose) Volume(ctx context.Context, name string) (string, error) {
	out, err := Docker(ctx, "volume", "ls", "--format", "{{.Name}}",
		"--filter", "label=com.docker.compose.project="+c.Project,
		"--filter", "label=com.docker.compose.volume="+name)
	if err != nil {
		return "", err
	}
	names := strings.Fields(out)
	if len(names) != 1 {
		return "", fmt.Errorf("volume %s: found %q", name, names)
	}
	return names[0], nil
}

// IP returns the address of the service's container on a docker network,
// "" if it is not attached to it (or not running).
func (c *Compose) IP(ctx context.Context, service, network string) (string, error) {
	id, err := c.Container(ctx, service)
	if err != nil {
		return "", err
	}
	out, err := Docker(ctx, "inspect", "-f", "{{json .NetworkSettings.Networks}}", id)
	if err != nil {
		return "", err
	}
	var nets map[string]struct{ IPAddress string }
	if err := json.Unmarshal([]byte(out), &nets); err != nil {
		return "", fmt.Errorf("inspect %s: %w", service, err)
	}
	return nets[network].IPAddress, nil
}

// Disconnect cuts the service's container off a docker network.
func (c *Compose) Disconnect(ctx context.Context, service, network string) error {
	id, err := c.Container(ctx, service)
	if err != nil {
		return err
	}
	_, err = Docker(ctx, "network", "disconnect", network, id)
	return err
}

// Connect attaches the service's container to a docker network again,
// under its service name. It gets a new address there (a compose network
// has no fixed subnet to ask for the old one in), as a machine that comes
// back on a network often does: its TCP connections do not resume, and
// the NATS clients reconnect.
func (c *Compose) Connect(ctx context.Context, service, network string) error {
	id, err := c.Container(ctx, service)
	if err != nil {
		return err
	}
	_, err = Docker(ctx, "network", "connect", "--alias", service, network, id)
	return err
}

// Signal runs `docker kill|stop|start|pause|unpause` on the services'
// containers.
func (c *Compose) Signal(ctx context.Context, verb string, services ...string) error {
	args := []string{verb}
	if verb == "stop" {
		args = append(args, "-t", "10")
	}
	for _, s := range services {
		id, err := c.Container(ctx, s)
		if err != nil {
			return err
		}
		args = append(args, id)
	}
	_, err := Docker(ctx, args...)
	return err
}

// Logs returns the services' logs since a time (zero: all of them).
func (c *Compose) Logs(ctx context.Context, service string, since time.Time) (string, error) {
	id, err := c.Container(ctx, service)
	if err != nil {
		return "", err
	}
	args := []string{"logs"}
	if !since.IsZero() {
		args = append(args, "--since", since.UTC().Format(time.RFC3339Nano))
	}
	return Docker(ctx, append(args, id)...)
}

// CopyOut returns a file of the service's container (running or not) as
// the tar archive `docker cp CONTAINER:PATH -` writes: its content with
// its owner and mode.
func (c *Compose) CopyOut(ctx context.Context, service, path string) ([]byte, error) {
	id, err := c.Container(ctx, service)
	if err != nil {
		return nil, err
	}
	return runIO(ctx, nil, "docker", "cp", id+":"+path, "-")
}

// CopyIn extracts a tar archive into a directory of the service's
// container (running or not). The files it writes are root's, with the
// modes the archive gives: docker cp keeps owners only with -a, which
// needs a passwd database in the container, and the image has none.
func (c *Compose) CopyIn(ctx context.Context, service, dir string, archive []byte) error {
	id, err := c.Container(ctx, service)
	if err != nil {
		return err
	}
	_, err = runIO(ctx, archive, "docker", "cp", "-", id+":"+dir)
	return err
}

// runIO runs a command with stdin and returns its standard output, which
// may be binary; its standard error goes into the error.
func runIO(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}
