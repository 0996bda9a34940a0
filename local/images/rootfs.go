package images

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// recipeVersion changes whenever the way a root file system is made
// changes in a way the scripts below do not show (they are hashed too).
const recipeVersion = "1"

// builder makes root file systems (cached) and images from them.
type builder struct {
	o        Options
	progress io.Writer
	debs     string // Debian packages, shared by debootstrap and apt

	// mirrors are resolved on first use: a cached build needs no network.
	mirror, securityMirror string
}

func newBuilder(o Options, progress io.Writer) (*builder, error) {
	for _, tool := range []string{"debootstrap", "unshare", "chroot", "cp"} {
		if _, err := exec.LookPath(tool); err != nil {
			hint := ""
			if tool == "debootstrap" {
				hint = " (apt-get install debootstrap)"
			}
			return nil, fmt.Errorf("%s not found%s", tool, hint)
		}
	}
	var err error
	if o.Cache, err = filepath.Abs(o.Cache); err != nil {
		return nil, err
	}
	if o.Out, err = filepath.Abs(o.Out); err != nil {
		return nil, err
	}
	b := &builder{o: o, progress: progress, debs: filepath.Join(o.Cache, "debs")}
	if err := os.MkdirAll(filepath.Join(b.debs, "partial"), 0o755); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *builder) say(format string, args ...any) {
	fmt.Fprintf(b.progress, "==> "+format+"\n", args...)
}

// key hashes everything that decides a cached root file system's content.
func (b *builder) key(r recipe) string {
	pkgs := slices.Clone(r.Packages)
	slices.Sort(pkgs)
	j, _ := json.Marshal(map[string]any{
		"recipe":   recipeVersion,
		"suite":    suite,
		"packages": pkgs,
		"epoch":    b.o.Epoch,
		"security": b.o.SecurityMirror == "none",
		"base":     baseKey(),
		"script":   setupScript,
		"finish":   finishScript,
	})
	return shortHash(j)
}

func baseKey() string {
	return shortHash([]byte(recipeVersion + " debootstrap --variant=minbase --components=main " + suite))
}

func shortHash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:6])
}

// cachedRootfs is a finished root file system in the cache.
type cachedRootfs struct {
	Dir      string
	Packages []string // name=version, as dpkg lists them
	Cached   bool
	Took     time.Duration
}

// rootfs returns the recipe's root file system, bootstrapping it when it is
// not cached.
func (b *builder) rootfs(ctx context.Context, r recipe) (*cachedRootfs, error) {
	dir := filepath.Join(b.o.Cache, r.Name+"-"+b.key(r))
	if !b.o.Rebuild {
		if c, err := readCached(dir); err == nil {
			return c, nil
		}
	}
	unlock, err := lockFile(filepath.Join(b.o.Cache, ".lock"), b.progress)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if !b.o.Rebuild {
		if c, err := readCached(dir); err == nil { // built while we waited
			return c, nil
		}
	}
	start := time.Now()
	if err := b.resolveMirrors(ctx); err != nil {
		return nil, err
	}
	base, err := b.base(ctx)
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(b.o.Cache, ".tmp-"+filepath.Base(dir))
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(tmp, "build.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	root := filepath.Join(tmp, "rootfs")
	if out, err := exec.CommandContext(ctx, "cp", "-a", "--reflink=auto", base, root).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copy the base: %v: %s", err, out)
	}
	b.say("%s: apt-get install %s (log: %s)", r.Name, strings.Join(r.Packages, " "), logf.Name())
	script := strings.NewReplacer(
		"@SOURCES@", b.sourcesList(),
		"@PACKAGES@", strings.Join(r.Packages, " "),
		"@EPOCH@", fmt.Sprint(b.o.Epoch),
		"@EPOCH_DAYS@", fmt.Sprint(b.o.Epoch/86400),
		"@USER@", userName, "@UID@", fmt.Sprint(userID), "@HOME@", homeDir,
	).Replace(setupScript)
	if err := inRoot(ctx, root, chrootOptions{Binds: map[string]string{b.debs: "/var/cache/apt/archives"}, Resolv: true}, logf, "/bin/sh", "-euc", script); err != nil {
		return nil, withLogTail(fmt.Errorf("install packages: %w", err), logf.Name())
	}
	// Every file gets the image's timestamp here already, so that what
	// is built from timestamps below (fontconfig's caches) matches what
	// the image will hold.
	if err := stampTree(root, b.o.Epoch); err != nil {
		return nil, err
	}
	if err := inRoot(ctx, root, chrootOptions{}, logf, "/bin/sh", "-euc", strings.ReplaceAll(finishScript, "@EPOCH@", fmt.Sprint(b.o.Epoch))); err != nil {
		return nil, withLogTail(fmt.Errorf("finish: %w", err), logf.Name())
	}
	if err := stampTree(root, b.o.Epoch); err != nil {
		return nil, err
	}
	var list bytes.Buffer
	if err := inRoot(ctx, root, chrootOptions{}, &list, "dpkg-query", "-W", "-f", "${Package}=${Version}\n"); err != nil {
		return nil, fmt.Errorf("list packages: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "packages.txt"), list.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	// Older recipes of the same image only take space now.
	old, _ := filepath.Glob(filepath.Join(b.o.Cache, r.Name+"-*"))
	for _, o := range old {
		if o != dir {
			_ = os.RemoveAll(o)
		}
	}
	c, err := readCached(dir)
	if err != nil {
		return nil, err
	}
	c.Cached, c.Took = false, time.Since(start)
	return c, nil
}

func readCached(dir string) (*cachedRootfs, error) {
	list, err := os.ReadFile(filepath.Join(dir, "packages.txt"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "rootfs", "etc", "passwd")); err != nil {
		return nil, err
	}
	return &cachedRootfs{Dir: filepath.Join(dir, "rootfs"), Packages: strings.Fields(string(list)), Cached: true}, nil
}

// base is debootstrap's minbase, shared by every image (they copy it).
func (b *builder) base(ctx context.Context) (string, error) {
	dir := filepath.Join(b.o.Cache, "base-"+suite+"-"+baseKey())
	root := filepath.Join(dir, "rootfs")
	if _, err := os.Stat(filepath.Join(dir, "ok")); err == nil {
		return root, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	logf, err := os.Create(filepath.Join(dir, "debootstrap.log"))
	if err != nil {
		return "", err
	}
	defer logf.Close()
	b.say("debootstrap --variant=minbase %s from %s (log: %s)", suite, b.mirror, logf.Name())
	start := time.Now()
	// In its own mount namespace: whatever debootstrap mounts in the
	// target goes away with it, even when it fails half way.
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--pid", "--fork", "--kill-child", "--",
		"debootstrap", "--variant=minbase", "--components=main", "--cache-dir="+b.debs, suite, root, b.mirror)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return "", withLogTail(fmt.Errorf("debootstrap: %w", err), logf.Name())
	}
	if err := os.WriteFile(filepath.Join(dir, "ok"), nil, 0o644); err != nil {
		return "", err
	}
	b.say("debootstrap done in %s", time.Since(start).Round(time.Second))
	return root, nil
}

func (b *builder) resolveMirrors(ctx context.Context) error {
	sources := machineSources("/etc/apt")
	if b.mirror == "" {
		b.mirror = strings.TrimSuffix(b.o.Mirror, "/")
		if b.mirror == "" {
			b.mirror = pickMirror(ctx, sources, suite, fallbackMirror)
		}
		if b.mirror == "" {
			return fmt.Errorf("no Debian mirror answers for %s (tried /etc/apt/sources and %s); pass -mirror", suite, fallbackMirror)
		}
	}
	if b.securityMirror == "" {
		b.securityMirror = strings.TrimSuffix(b.o.SecurityMirror, "/")
		if b.securityMirror == "" {
			b.securityMirror = pickMirror(ctx, sources, suite+"-security", fallbackSecurityMirror)
			if b.securityMirror == "" {
				b.say("warning: no security mirror answers; the images get no security updates")
				b.securityMirror = "none"
			}
		}
	}
	b.say("mirrors: %s, security: %s", b.mirror, b.securityMirror)
	return nil
}

func (b *builder) sourcesList() string {
	s := fmt.Sprintf("deb %[1]s %[2]s main\ndeb %[1]s %[2]s-updates main\n", b.mirror, suite)
	if b.securityMirror != "none" {
		s += fmt.Sprintf("deb %s %s-security main\n", b.securityMirror, suite)
	}
	return s
}

// setupScript runs as root in the copied base: packages, the session user,
// byte code that does not depend on file times.
const setupScript = `
export DEBIAN_FRONTEND=noninteractive
# No daemons start in a chroot.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
cat >/etc/apt/sources.list <<'EOF'
@SOURCES@EOF
cat >/etc/apt/apt.conf.d/90streamspace <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Retries "3";
EOF
apt="apt-get -q -y -o APT::Sandbox::User=root -o Dpkg::Use-Pty=0"
$apt update
$apt upgrade
$apt install @PACKAGES@
rm -f /usr/sbin/policy-rc.d

# The session user. Written by hand, not with useradd, which stamps today's
# date into /etc/shadow; every password-change date becomes the epoch's.
grep -q '^@USER@:' /etc/group || echo '@USER@:x:@UID@:' >>/etc/group
grep -q '^@USER@:' /etc/gshadow || echo '@USER@:!::' >>/etc/gshadow
grep -q '^@USER@:' /etc/passwd || echo '@USER@:x:@UID@:@UID@:StreamSpace user:@HOME@:/bin/bash' >>/etc/passwd
grep -q '^@USER@:' /etc/shadow || echo '@USER@:!:@EPOCH_DAYS@:0:99999:7:::' >>/etc/shadow
sed -i -E 's/^([^:]*:[^:]*:)[0-9]+:/\1@EPOCH_DAYS@:/' /etc/shadow
mkdir -p @HOME@ /tmp/.X11-unix
chown @UID@:@UID@ @HOME@
chmod 755 @HOME@
chmod 1777 /tmp /tmp/.X11-unix

# Python byte code checked by source hash, not by source time: every file
# time becomes the epoch, which would make timestamp byte code stale and
# websockify recompile everything at each start.
find / -xdev -name __pycache__ -type d -prune -exec rm -rf {} +
stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')
SOURCE_DATE_EPOCH=@EPOCH@ python3 -m compileall -q -j 0 --invalidation-mode checked-hash \
	-x '/(test|tests|idlelib|tkinter|turtledemo|lib2to3|ensurepip|numpy)/' \
	"$stdlib" /usr/lib/python3/dist-packages >/dev/null || echo "compileall: some files did not compile"
`

// finishScript runs after every file time became the epoch.
const finishScript = `
if command -v fc-cache >/dev/null; then SOURCE_DATE_EPOCH=@EPOCH@ fc-cache -s -f; fi
`

// chrootOptions of inRoot.
type chrootOptions struct {
	// Binds maps host folders to folders inside the root.
	Binds map[string]string
	// Resolv copies the machine's /etc/resolv.conf in (for apt).
	Resolv bool
	// Env is the environment inside (default: PATH, LANG, HOME=/root).
	Env []string
	// Setup runs on the host side, in the namespace, after the mounts
	// ($R is the root), e.g. more mounts.
	Setup string
}

// mountPrelude gives a root file system what a container gets: /proc of
// its own PID namespace, a small /dev with a private devpts, /dev/shm. It
// runs in a private mount namespace, so every mount ends with it.
const mountPrelude = `
R=$1; shift
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t tmpfs -o nosuid,mode=755,size=1m tmpfs "$R/dev"
for d in null zero full random urandom tty; do
	: >"$R/dev/$d"
	mount --bind "/dev/$d" "$R/dev/$d"
done
mkdir "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,nosuid,noexec,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
`

// rootCommand is the command that runs argv in root, in new mount and PID
// namespaces (argv is PID 1 there; when it ends, everything it started
// ends, and so do the mounts).
func rootCommand(ctx context.Context, root string, o chrootOptions, argv ...string) *exec.Cmd {
	script := mountPrelude
	for _, host := range slices.Sorted(maps.Keys(o.Binds)) {
		script += fmt.Sprintf("mkdir -p \"$R%[2]s\"\nmount --bind %[1]q \"$R%[2]s\"\n", host, o.Binds[host])
	}
	if o.Resolv {
		script += "cp -L /etc/resolv.conf \"$R/etc/resolv.conf\"\n"
	}
	script += o.Setup + "\n"
	env := o.Env
	if env == nil {
		env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root"}
	}
	script += `exec chroot "$R" /usr/bin/env -i "$@"` + "\n"
	args := append([]string{"--mount", "--pid", "--fork", "--kill-child", "--", "/bin/sh", "-euc", script, "sh", root}, env...)
	args = append(args, argv...)
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// inRoot runs argv in root and waits for it.
func inRoot(ctx context.Context, root string, o chrootOptions, out io.Writer, argv ...string) error {
	cmd := rootCommand(ctx, root, o, argv...)
	cmd.Stdout = out
	if f, ok := out.(*os.File); ok {
		cmd.Stderr = f
	} else {
		cmd.Stderr = os.Stderr
	}
	return cmd.Run()
}

// stampTree sets every file's times (not following links) to epoch.
func stampTree(root string, epoch int64) error {
	ts := []unix.Timespec{unix.NsecToTimespec(epoch * 1e9), unix.NsecToTimespec(epoch * 1e9)}
	// Children before parents: touching a file does not change its
	// folder's time, but be safe with the order anyway.
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		return fmt.Errorf("set file times: %w", err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dirs[i], ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set file times: %w", err)
		}
	}
	return nil
}

// lockFile takes an exclusive lock, saying so when it has to wait.
func lockFile(path string, progress io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); errors.Is(err, syscall.EWOULDBLOCK) {
		fmt.Fprintf(progress, "==> waiting for another build (%s)\n", path)
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != nil {
			f.Close()
			return nil, err
		}
	} else if err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = f.Close() }, nil
}

// withLogTail adds the last lines of a log to an error.
func withLogTail(err error, log string) error {
	f, ferr := os.Open(log)
	if ferr != nil {
		return err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 20 {
			lines = lines[1:]
		}
	}
	return fmt.Errorf("%w\n--- last lines of %s:\n%s", err, log, strings.Join(lines, "\n"))
}
