/*
 * pidns-floor: the least that a launcher can do to run a command in its own
 * user, mount and PID namespaces with an init, as husk does, and nothing
 * else: no image, no mount, no option parsing. test/bench/startup times it
 * as a floor next to `unshare -Ur /bin/true` (the same without a PID
 * namespace, whose command is exec'd in place).
 *
 *   pidns-floor CMD [ARG...]
 *
 * unshare(2) CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID, the id maps of
 * user_namespaces(7) (this uid and gid, one each); then an init (pid 1 of
 * the new PID namespace: clone(2) with CLONE_VM, so no copy of this
 * process, sleeping until it is killed), and the command as its sibling
 * (vfork(2) and execvp(3), pid 2), waited for; then the init is killed and
 * waited for, which ends the namespace. Exit status: the command's, 128+N
 * if it died of signal N, 125 if a step failed (with one line on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void fail(const char* what) {
    fprintf(stderr, "pidns-floor: %s: %s\n", what, strerror(errno));
    exit(125);
}

static void write_file(const char* path, const char* text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        fail(path);
    }
    close(fd);
}

static int init_main(void* arg) {
    (void)arg;
    for (;;) {
        pause(); /* until the SIGKILL that ends the namespace */
    }
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: pidns-floor CMD [ARG...]\n");
        return 125;
    }
    char uid_map[64], gid_map[64];
    snprintf(uid_map, sizeof uid_map, "%u %u 1\n", (unsigned)getuid(), (unsigned)getuid());
    snprintf(gid_map, sizeof gid_map, "%u %u 1\n", (unsigned)getgid(), (unsigned)getgid());
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID) != 0) {
        fail("unshare");
    }
    write_file("/proc/self/setgroups", "deny");
    write_file("/proc/self/gid_map", gid_map);
    write_file("/proc/self/uid_map", uid_map);

    const size_t stack_size = 64 * 1024;
    char* stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        fail("mmap");
    }
    pid_t init = clone(init_main, stack + stack_size, CLONE_VM | SIGCHLD, NULL);
    if (init < 0) {
        fail("clone");
    }
    pid_t cmd = vfork();
    if (cmd == 0) {
        execvp(argv[1], argv + 1);
        _exit(errno == ENOENT ? 127 : 126);
    }
    if (cmd < 0) {
        fail("vfork");
    }
    int status = 0;
    while (waitpid(cmd, &status, 0) < 0 && errno == EINTR) {
    }
    kill(init, SIGKILL);
    while (waitpid(init, NULL, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
