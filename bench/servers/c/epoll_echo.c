/*
 * epoll_echo: the near-physical-limit reference for the benchmark harness.
 *
 * One thread, one level-triggered epoll loop, one shared read buffer. Echo
 * mode writes back what each read returned; line mode answers every
 * newline-terminated line with its own copy, keeping a partial line per
 * connection. Output the socket does not take at once (EAGAIN or a short
 * write) is buffered per connection, EPOLLOUT is watched until it drains, and
 * reading pauses meanwhile so a client that never reads cannot grow it.
 *
 *   epoll_echo PORT [line]     prints "ready 127.0.0.1:PORT" when listening
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
	char *out;   /* bytes not yet written */
	size_t outlen, outcap;
	char *part;  /* line mode: partial line */
	size_t partlen, partcap;
};

static struct conn **conns;
static int nconns;
static int epfd;
static int line_mode;
static char rbuf[65536];
static char *reply;
static size_t replycap;

static void append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (*len + n > *cap) {
		size_t c = *cap ? *cap : 4096;
		while (c < *len + n)
			c *= 2;
		*buf = realloc(*buf, c);
		if (!*buf) {
			perror("realloc");
			exit(1);
		}
		*cap = c;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
}

static void drop(int fd)
{
	struct conn *c = conns[fd];
	epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); /* non-null event not needed since 2.6.9 */
	close(fd);
	if (c) {
		free(c->out);
		free(c->part);
		free(c);
		conns[fd] = NULL;
	}
}

static void watch(int fd, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

/* send writes p, buffering what the socket does not take. Returns -1 if the
 * connection broke. */
static int send_out(int fd, const char *p, size_t n)
{
	struct conn *c = conns[fd];
	if (c->outlen == 0) {
		while (n > 0) {
			ssize_t w = write(fd, p, n);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					break;
				return -1;
			}
			p += w;
			n -= w;
		}
		if (n == 0)
			return 0;
	}
	append(&c->out, &c->outlen, &c->outcap, p, n);
	watch(fd, EPOLLOUT); /* stop reading until the output drains */
	return 0;
}

static int flush_out(int fd)
{
	struct conn *c = conns[fd];
	size_t off = 0;
	while (off < c->outlen) {
		ssize_t w = write(fd, c->out + off, c->outlen - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -1;
		}
		off += w;
	}
	memmove(c->out, c->out + off, c->outlen - off);
	c->outlen -= off;
	if (c->outlen == 0)
		watch(fd, EPOLLIN);
	return 0;
}

static int on_read(int fd)
{
	struct conn *c = conns[fd];
	ssize_t n = read(fd, rbuf, sizeof rbuf);
	if (n == 0)
		return -1;
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	if (!line_mode)
		return send_out(fd, rbuf, n);
	/* line mode: one reply per complete line */
	size_t rlen = 0, start = 0;
	for (size_t i = 0; i < (size_t)n; i++) {
		if (rbuf[i] != '\n')
			continue;
		if (c->partlen > 0) {
			append(&reply, &rlen, &replycap, c->part, c->partlen);
			c->partlen = 0;
		}
		append(&reply, &rlen, &replycap, rbuf + start, i + 1 - start);
		start = i + 1;
	}
	if (start < (size_t)n)
		append(&c->part, &c->partlen, &c->partcap, rbuf + start, n - start);
	return rlen ? send_out(fd, reply, rlen) : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: epoll_echo PORT [line]\n");
		return 2;
	}
	line_mode = argc > 2 && strcmp(argv[2], "line") == 0;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, SOMAXCONN) < 0) {
		perror("listen");
		return 1;
	}
	nconns = 1 << 16;
	conns = calloc(nconns, sizeof *conns);
	epfd = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	printf("ready 127.0.0.1:%s\n", argv[1]);
	fflush(stdout);

	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(epfd, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				int cfd;
				while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					if (cfd >= nconns) {
						close(cfd);
						continue;
					}
					setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					conns[cfd] = calloc(1, sizeof(struct conn));
					struct epoll_event cev = { .events = EPOLLIN, .data.fd = cfd };
					epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &cev);
				}
				continue;
			}
			if (!conns[fd])
				continue; /* closed earlier in this batch */
			int rc = 0;
			if (evs[i].events & EPOLLOUT)
				rc = flush_out(fd);
			else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				rc = on_read(fd);
			if (rc < 0)
				drop(fd);
		}
	}
}
