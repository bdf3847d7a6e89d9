/*
 * epoll_echo: the floor of the echo benchmarks. One thread, level-triggered
 * epoll, one read and one write per readable event (write what was read;
 * buffer only what the socket does not take), so that it makes the fewest
 * system calls per message an echo server can make.
 *
 *   cc -O2 -o epoll_echo epoll_echo.c && ./epoll_echo 127.0.0.1 7000
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXFD 65536
#define BUFSZ 65536

struct pending { char *buf; size_t len, off; };
static struct pending out[MAXFD];
static char buf[BUFSZ];

static void drop(int ep, int fd) {
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(out[fd].buf);
	memset(&out[fd], 0, sizeof out[fd]);
}

int main(int argc, char **argv) {
	if (argc != 3) { fprintf(stderr, "usage: %s ADDR PORT\n", argv[0]); return 2; }
	signal(SIGPIPE, SIG_IGN);
	int ln = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	if (bind(ln, (struct sockaddr *)&sa, sizeof sa) || listen(ln, 4096)) { perror("listen"); return 1; }
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = ln};
	epoll_ctl(ep, EPOLL_CTL_ADD, ln, &ev);
	printf("LISTENING %s:%s\n", argv[1], argv[2]);
	fflush(stdout);
	struct epoll_event evs[1024];
	for (;;) {
		int n = epoll_wait(ep, evs, 1024, -1);
		if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); return 1; }
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ln) {
				for (;;) {
					int c = accept4(ln, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (c < 0) break;
					if (c >= MAXFD) { close(c); continue; }
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
				}
				continue;
			}
			struct pending *p = &out[fd];
			if (evs[i].events & EPOLLOUT) {
				ssize_t w = write(fd, p->buf + p->off, p->len - p->off);
				if (w < 0 && errno != EAGAIN) { drop(ep, fd); continue; }
				if (w > 0) p->off += w;
				if (p->off == p->len) {
					p->len = p->off = 0;
					struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
					epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
				}
				continue;
			}
			if (p->len) continue; /* output pending: read again once it is out */
			ssize_t r = read(fd, buf, BUFSZ);
			if (r <= 0) { if (r < 0 && errno == EAGAIN) continue; drop(ep, fd); continue; }
			ssize_t w = write(fd, buf, r);
			if (w < 0) { if (errno != EAGAIN) { drop(ep, fd); continue; } w = 0; }
			if (w < r) {
				p->buf = realloc(p->buf, r - w);
				memcpy(p->buf, buf + w, r - w);
				p->len = r - w;
				p->off = 0;
				struct epoll_event e = {.events = EPOLLOUT, .data.fd = fd};
				epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
			}
		}
	}
}
