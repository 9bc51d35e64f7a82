/*
 * The attack probe: a small static program the end-to-end tests run inside
 * the sandbox (and, for a few checks, on the host) to try one escape and
 * report what it reached. Each mode prints `key=value` lines the tests
 * parse; an errno is printed by name ("denied=EACCES"), success as "ok".
 * Built by tests/common/probe.rs with `cc -static`; no dependency but libc.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mqueue.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *err(int e) {
    static char buf[32];
    const char *name = strerrorname_np(e);
    if (name) return name;
    snprintf(buf, sizeof buf, "E%d", e);
    return buf;
}

/* "key=ok" or "key=ENAME" for a call that returned -1 on failure. */
static int report(const char *key, long ret) {
    if (ret < 0) printf("%s=%s\n", key, err(errno));
    else printf("%s=ok\n", key);
    fflush(stdout);
    return ret < 0 ? -1 : 0;
}

/* fds: every open descriptor but the one reading /proc/self/fd, with its target. */
static int mode_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return report("opendir", -1), 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
        char path[300], target[4096];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = 0;
        printf("fd=%s %s\n", e->d_name, target);
    }
    closedir(d);
    return 0;
}

/* escape: from every directory descriptor >= 3, climb to its root and list it. */
static int mode_escape(void) {
    for (int fd = 3; fd < 1024; fd++) {
        struct stat st;
        if (fstat(fd, &st) || !S_ISDIR(st.st_mode)) continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d/../../../../../../..", fd);
        if (chdir(path) == 0 && access("etc/shadow", F_OK) == 0) printf("escaped=%d\n", fd);
    }
    printf("escape=done\n");
    return 0;
}

/* read PATH: its first line, or the errno. */
static int mode_read(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (report("open", fd)) return 1;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (report("read", n)) return 1;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == 0) buf[i] = ' ';
    buf[n] = 0;
    printf("content=%s\n", buf);
    return 0;
}

/* write PATH TEXT: open for writing (no create) and write TEXT. */
static int mode_write(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (report("open", fd)) return 1;
    return report("write", write(fd, text, strlen(text))) ? 1 : 0;
}

/* init PID: what a process can learn or do to the sandbox's pid 1. */
static int mode_init(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", pid);
    report("environ", open(path, O_RDONLY));
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    report("mem", open(path, O_RDONLY));
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    report("fd_dir", d ? 0 : -1);
    /* Listing the numbers may be allowed (the directory belongs to root);
     * what each one is, or a way to write to it, must not be. */
    for (int fd = 0; fd < 64; fd++) {
        char link[64], target[256], key[32];
        snprintf(link, sizeof link, "/proc/%d/fd/%d", pid, fd);
        if (readlink(link, target, sizeof target) >= 0) printf("init_fd=%d\n", fd);
        snprintf(key, sizeof key, "fd%d_write", fd);
        int f = open(link, O_WRONLY | O_CLOEXEC);
        if (f >= 0) printf("%s=ok\n", key);
    }
    if (d) closedir(d);
    report("ptrace", ptrace(PTRACE_ATTACH, pid, 0, 0));
    char byte;
    struct iovec local = {&byte, 1}, remote = {(void *)0x400000, 1};
    report("vm_read", process_vm_readv(pid, &local, 1, &remote, 1, 0));
    int pidfd = syscall(SYS_pidfd_open, pid, 0);
    report("pidfd_open", pidfd);
    if (pidfd >= 0)
        for (int fd = 0; fd < 16; fd++) {
            char key[32];
            snprintf(key, sizeof key, "getfd%d", fd);
            report(key, syscall(SYS_pidfd_getfd, pidfd, fd, 0));
        }
    return 0;
}

/* suid DIR: every way to leave a set-id file behind in DIR. */
static int mode_suid(const char *dir) {
    char p[4096];
#define AT(name) (snprintf(p, sizeof p, "%s/%s", dir, name), p)
    report("open_creat", open(AT("open_creat"), O_CREAT | O_WRONLY | O_CLOEXEC, 04755));
    report("openat_creat", openat(AT_FDCWD, AT("openat_creat"), O_CREAT | O_WRONLY | O_CLOEXEC, 02755));
    report("creat", syscall(SYS_creat, AT("creat"), 04755));
    report("mknod", mknod(AT("mknod"), S_IFREG | 04755, 0));
    report("mkdir_sgid", mkdir(AT("mkdir_sgid"), 02755));
    int fd = open(AT("plain"), O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
    report("plain", fd);
    report("chmod", chmod(AT("plain"), 04755));
    report("fchmod", fchmod(fd, 06755));
    report("fchmodat", fchmodat(AT_FDCWD, AT("plain"), 02755, 0));
#undef AT
    /* What is left in DIR with a set-id bit, whatever the calls said. */
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && lstat(p, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)))
            printf("setid=%s %o\n", e->d_name, st.st_mode & 07777);
    }
    if (d) closedir(d);
    return 0;
}

/* connect PATH: a pathname unix socket. */
static int mode_connect(const char *path) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    return report("connect", connect(s, (struct sockaddr *)&a, sizeof a)) ? 1 : 0;
}

/* listen PATH: on the host, a unix socket server that accepts until its
 * parent (the launcher started after it) exits. */
static int mode_listen(const char *path) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    alarm(60); /* and in any case, not for long */
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    unlink(path);
    if (report("bind", bind(s, (struct sockaddr *)&a, sizeof a)) || report("listen", listen(s, 16))) return 1;
    chmod(path, 0777);
    for (;;) {
        int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0) close(c);
    }
}

/* inotify1: one inotify instance, now (on the host, as the caller). */
static int mode_inotify1(void) {
    return report("inotify1", inotify_init1(IN_CLOEXEC)) ? 1 : 0;
}

/* inotify: hold as many inotify instances as the kernel gives, say how
 * many, and keep them until stdin closes. */
static int mode_inotify(void) {
    int count = 0;
    while (inotify_init1(IN_CLOEXEC) >= 0) count++;
    printf("inotify=%d %s\n", count, err(errno));
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {}
    return 0;
}

/* A message queue as large as the default limits allow (10 messages of 8 KiB). */
static mqd_t big_queue(const char *name) {
    struct mq_attr attr = {.mq_maxmsg = 10, .mq_msgsize = 8192};
    return mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
}

/* mqueue: hold as many large message queues as the caller's uid may have
 * (RLIMIT_MSGQUEUE bytes), say how many, keep them until stdin closes. */
static int mode_mqueue(void) {
    int count = 0;
    char name[32];
    for (;;) {
        snprintf(name, sizeof name, "/probe-%d", count);
        if (big_queue(name) == (mqd_t)-1) break;
        count++;
    }
    printf("mqueue=%d %s\n", count, err(errno));
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {}
    return 0;
}

/* mqueue1: one large queue now (on the host, as the caller), then gone. */
static int mode_mqueue1(void) {
    char name[32];
    snprintf(name, sizeof name, "/probe-host-%d", getpid());
    mqd_t q = big_queue(name);
    report("mqueue1", q == (mqd_t)-1 ? -1 : 0);
    if (q != (mqd_t)-1) mq_unlink(name);
    return 0;
}

/* syscall NR: the errno of a raw call with zero arguments. */
static int mode_syscall(long nr) {
    errno = 0;
    long ret = syscall(nr, 0, 0, 0, 0, 0, 0);
    printf("syscall=%ld %s\n", nr, ret < 0 ? err(errno) : "ok");
    return 0;
}

/* tiocsti: push a byte into the terminal on fd 0. */
static int mode_tiocsti(void) {
    char c = 'x';
    return report("tiocsti", ioctl(0, TIOCSTI, &c)) ? 1 : 0;
}

/* orphan SECONDS: clear the parent-death signal and outlive the parent. */
static int mode_orphan(int seconds) {
    report("pdeathsig", prctl(PR_SET_PDEATHSIG, 0));
    printf("ready\n");
    fflush(stdout);
    sleep(seconds);
    return 0;
}

/* reap CMD...: on the host. Run CMD as a child of a subreaper and report
 * every other process that is reparented to us once CMD has exited (the
 * ones CMD left running). */
static int mode_reap(char **argv) {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    pid_t child = fork();
    if (child == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    waitpid(child, &status, 0);
    printf("status=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    /* A straggler is our child now; give the kernel a moment to reparent. */
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    int orphans = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) orphans++;
    char path[64], children[4096] = "";
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", getpid(), getpid());
    FILE *f = fopen(path, "r");
    if (f && fgets(children, sizeof children, f) && children[0]) orphans++;
    if (f) fclose(f);
    printf("orphans=%d %s\n", orphans, children);
    return 0;
}

/* net tcp|udp|icmp HOST [PORT]: one exchange with a network peer, from
 * inside a sandbox. TCP connects and reads a line; UDP sends "probe" on a
 * connected socket and reads the reply; ICMP sends one echo request (a
 * ping socket, else a raw one) and waits for the reply. Prints
 * `net=ok reply=...`, `net=ENAME` for the first call that failed (the
 * step in `step=`), or `net=TIMEOUT` after 3 s without an answer; and
 * `ms=` the time it took, so a test tells a refusal from a timeout. */
static long ms_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int net_fail(const char *step, int e, const struct timespec *t0) {
    printf("net=%s step=%s ms=%ld\n", err(e), step, ms_since(t0));
    return 1;
}

/* Wait up to 3 s for `events` on s; 0 when ready, -1 on timeout (errno 0). */
static int net_wait(int s, short events) {
    struct pollfd p = {.fd = s, .events = events};
    int n = poll(&p, 1, 3000);
    if (n == 0) errno = 0;
    return n == 1 ? 0 : -1;
}

static int mode_net(const char *proto, const char *host, const char *port) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int icmp = !strcmp(proto, "icmp"), udp = !strcmp(proto, "udp");
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = udp || icmp ? SOCK_DGRAM : SOCK_STREAM};
    struct addrinfo *ai;
    int g = getaddrinfo(host, icmp ? NULL : port, &hints, &ai);
    if (g) {
        printf("net=RESOLVE step=getaddrinfo error=%s ms=%ld\n", gai_strerror(g), ms_since(&t0));
        return 1;
    }
    char addr[64] = "";
    getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof addr, NULL, 0, NI_NUMERICHOST);
    printf("addr=%s\n", addr);
    int v6 = ai->ai_family == AF_INET6;
    int s;
    if (icmp) {
        int p = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
        s = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, p);
        if (s < 0) s = socket(ai->ai_family, SOCK_RAW | SOCK_CLOEXEC, p);
    } else {
        s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | (udp ? 0 : SOCK_NONBLOCK), 0);
    }
    if (s < 0) return net_fail("socket", errno, &t0);
    if (connect(s, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) return net_fail("connect", errno, &t0);
    if (!udp && !icmp) {
        if (net_wait(s, POLLOUT) < 0) return errno ? net_fail("connect", errno, &t0) : (printf("net=TIMEOUT step=connect ms=%ld\n", ms_since(&t0)), 1);
        int e = 0;
        socklen_t len = sizeof e;
        getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &len);
        if (e) return net_fail("connect", e, &t0);
    } else if (udp) {
        if (send(s, "probe\n", 6, 0) < 0) return net_fail("send", errno, &t0);
    } else {
        /* type, code, checksum, id, sequence 1; a ping socket sets the id
         * and the checksum itself, a raw one sends ours (the kernel adds
         * ICMPv6's). */
        unsigned char echo[16] = {v6 ? 128 : ICMP_ECHO, 0, 0, 0, 0x51, 0x7e, 0, 1};
        unsigned sum = 0;
        for (size_t i = 0; i < sizeof echo; i += 2) sum += echo[i] << 8 | echo[i + 1];
        while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
        echo[2] = ~sum >> 8, echo[3] = ~sum & 0xff;
        if (send(s, echo, sizeof echo, 0) < 0) return net_fail("send", errno, &t0);
    }
    char buf[512];
    for (;;) {
        if (net_wait(s, POLLIN) < 0) {
            if (errno) return net_fail("recv", errno, &t0);
            printf("net=TIMEOUT step=recv ms=%ld\n", ms_since(&t0));
            return 1;
        }
        ssize_t n = recv(s, buf, sizeof buf - 1, 0);
        if (n < 0) return net_fail("recv", errno, &t0);
        buf[n] = 0;
        if (udp) break;
        if (!icmp) {
            /* TCP: the whole line, however it was segmented. */
            while (n < (ssize_t)sizeof buf - 1 && !memchr(buf, '\n', n) && net_wait(s, POLLIN) == 0) {
                ssize_t more = recv(s, buf + n, sizeof buf - 1 - n, 0);
                if (more <= 0) break;
                n += more;
            }
            buf[n] = 0;
            break;
        }
        /* A raw IPv4 socket sees the IP header, and every ICMP message. */
        unsigned char *m = (unsigned char *)buf;
        if (!v6 && n > 20 && (m[0] >> 4) == 4) m += (m[0] & 15) * 4;
        if (*m == (v6 ? 129 : ICMP_ECHOREPLY)) {
            snprintf(buf, sizeof buf, "echo-reply");
            break;
        }
        if (*m == (v6 ? 1 : ICMP_DEST_UNREACH)) {
            printf("net=UNREACHABLE step=recv code=%d ms=%ld\n", m[1], ms_since(&t0));
            return 1;
        }
    }
    buf[strcspn(buf, "\n")] = 0;
    printf("net=ok reply=%s ms=%ld\n", buf, ms_since(&t0));
    return 0;
}

/* serve tcp|udp PORT: a server in the sandbox for published ports. TCP
 * answers each connection with `sandbox tcp PORT`, UDP each datagram with
 * `sandbox udp PORT ` and the datagram; prints `serving` once listening,
 * then `got tcp PORT` for each connection, `got udp PORT DATA` for each
 * datagram.
 * Ends with its parent, and after 60 s in any case. */
static int mode_serve(const char *proto, int port) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    alarm(60);
    int udp = !strcmp(proto, "udp");
    int s = socket(AF_INET6, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    int off = 0, on = 1;
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT};
    if (report("bind", bind(s, (struct sockaddr *)&a, sizeof a))) return 1;
    if (!udp && report("listen", listen(s, 16))) return 1;
    printf("serving\n");
    char buf[512], reply[600];
    for (;;) {
        if (udp) {
            struct sockaddr_storage from;
            socklen_t len = sizeof from;
            ssize_t n = recvfrom(s, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &len);
            if (n < 0) continue;
            buf[n] = 0;
            buf[strcspn(buf, "\n")] = 0;
            printf("got udp %d %s\n", port, buf);
            int m = snprintf(reply, sizeof reply, "sandbox udp %d %s", port, buf);
            sendto(s, reply, m, 0, (struct sockaddr *)&from, len);
        } else {
            int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
            if (c < 0) continue;
            printf("got tcp %d\n", port);
            int m = snprintf(reply, sizeof reply, "sandbox tcp %d\n", port);
            if (write(c, reply, m) < 0) perror("write");
            close(c);
        }
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "fds")) return mode_fds();
    if (!strcmp(mode, "escape")) return mode_escape();
    if (!strcmp(mode, "read") && argc > 2) return mode_read(argv[2]);
    if (!strcmp(mode, "write") && argc > 3) return mode_write(argv[2], argv[3]);
    if (!strcmp(mode, "init")) return mode_init(argc > 2 ? atoi(argv[2]) : 1);
    if (!strcmp(mode, "suid") && argc > 2) return mode_suid(argv[2]);
    if (!strcmp(mode, "connect") && argc > 2) return mode_connect(argv[2]);
    if (!strcmp(mode, "listen") && argc > 2) return mode_listen(argv[2]);
    if (!strcmp(mode, "inotify")) return mode_inotify();
    if (!strcmp(mode, "inotify1")) return mode_inotify1();
    if (!strcmp(mode, "mqueue")) return mode_mqueue();
    if (!strcmp(mode, "mqueue1")) return mode_mqueue1();
    if (!strcmp(mode, "syscall") && argc > 2) return mode_syscall(atol(argv[2]));
    if (!strcmp(mode, "tiocsti")) return mode_tiocsti();
    if (!strcmp(mode, "orphan")) return mode_orphan(argc > 2 ? atoi(argv[2]) : 30);
    if (!strcmp(mode, "reap") && argc > 2) return mode_reap(argv + 2);
    if (!strcmp(mode, "serve") && argc > 3) return mode_serve(argv[2], atoi(argv[3]));
    if (!strcmp(mode, "net") && argc > 3) return mode_net(argv[2], argv[3], argc > 4 ? argv[4] : "0");
    fprintf(stderr, "usage: probe fds|escape|read P|write P T|init [PID]|suid DIR|connect P|"
                    "listen P|inotify|inotify1|mqueue|mqueue1|syscall NR|tiocsti|orphan [S]|reap CMD...|"
                    "net tcp|udp|icmp HOST [PORT]|serve tcp|udp PORT\n");
    return 2;
}
