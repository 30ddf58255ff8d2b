/*
 * test_transport.c — libpaynet's non-blocking API against a real sandbox.
 *
 * Usage: test-transport URL LOG   (tools/check.sh passes its sandbox's URL
 * and the file it logs to: the cases count the requests that reached it)
 * start / wait / step / cancel, the extra descriptor of wait, and what a
 * cancel means for `delivered` and the cooldown.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h" /* paynet_ledger_memory_forget */
#include "paynet.h"
#include "unit.h"

static const char *url, *sandbox_log;

/* How many lines of the sandbox's log hold needle. */
static int logged(const char *needle)
{
    char line[512];
    int n = 0;
    FILE *f = fopen(sandbox_log, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strstr(line, needle) != NULL)
            n++;
    fclose(f);
    return n;
}

/* How many requests for fault NN ("-> fault NN" lines) reached the sandbox:
 * it logs a fault's line when the request has arrived. */
static int arrivals(const char *fault)
{
    char needle[32];
    snprintf(needle, sizeof needle, "-> fault %s", fault);
    return logged(needle);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The tests' configuration: the sandbox's key, 5 s; base_url to set. */
static void config_for(paynet_config *config, const char *base_url)
{
    paynet_config_init(config);
    config->secret_key = "sck_sandbox";
    config->base_url = base_url;
    config->timeout = 5;
}

static paynet_client *client_on(const char *ledger)
{
    paynet_config config;
    paynet_client *c = NULL;
    paynet_error err;
    config_for(&config, url);
    config.ledger = ledger;
    if (paynet_client_new(&config, &c, &err) != PAYNET_OK)
        printf("client: %s\n", err.message);
    return c;
}

static paynet_client *client(void) { return client_on("memory"); }

static void unique_gsm(char out[PAYNET_GSM_SIZE])
{
    static unsigned counter;
    snprintf(out, PAYNET_GSM_SIZE, "59%08u",
             (unsigned)((getpid() * 1000u + counter++ + (unsigned)time(NULL)) % 100000000u));
}

/* Drives a call until it finishes, waiting on the network only; frees it. */
static paynet_status run(paynet_call *call, paynet_result *res, paynet_error *err)
{
    for (;;) {
        paynet_status s = paynet_call_step(call, res, err);
        if (s != PAYNET_PENDING) {
            paynet_call_free(call);
            return s;
        }
        paynet_call_wait(call, -1, 100, NULL, err);
    }
}

/* A send one of the two ways: blocking (paynet_send_otp) or on an event
 * loop (start, wait, step), both over the client's one machine. */
static paynet_status send_way(int loop, paynet_client *c, const char *gsm, const char *id,
                              paynet_result *res, paynet_error *err)
{
    if (!loop)
        return paynet_send_otp(c, gsm, id, res, err);
    paynet_call *call;
    paynet_status s = paynet_send_start(c, gsm, id, &call, err);
    return s != PAYNET_OK ? s : run(call, res, err);
}

static const char *const ways[] = {"blocking", "event loop"};

static void test_success(void)
{
    char gsm[PAYNET_GSM_SIZE];
    paynet_result res;
    paynet_error err;
    paynet_call *call = NULL;
    paynet_client *c = client();
    unique_gsm(gsm);

    CASE("non-blocking send: start, step and wait to a success");
    CHECK(c != NULL);
    double started = paynet_clock_wall();
    CHECK(paynet_send_start(c, gsm, "transport-1", &call, &err) == PAYNET_OK);
    CHECK(paynet_call_pending(call));
    paynet_status s;
    while ((s = paynet_call_step(call, &res, &err)) == PAYNET_PENDING)
        paynet_call_wait(call, -1, 100, NULL, &err);
    CHECK(s == PAYNET_OK);
    CHECK(!paynet_call_pending(call));
    /* the reply's time, taken before the ledger recorded the hold */
    CHECK(res.replied_at >= started && res.replied_at <= paynet_clock_wall());
    CHECK(res.code == 0 && res.http_status == 200);
    CHECK_STR(res.user_gsm, gsm);
    CHECK(res.expires_in > 179 && res.expires_in <= 180.001);
    CHECK(paynet_remaining(c, gsm) > 179);

    CASE("step on a call that is over is refused");
    CHECK(paynet_call_step(call, &res, &err) == PAYNET_INVALID);
    CHECK_STR(err.message, "this call is over");
    paynet_call_free(call);

    CASE("non-blocking send: a resend is refused at start, with no I/O, and no call");
    call = (paynet_call *)&err;
    CHECK(paynet_send_start(c, gsm, "transport-2", &call, &err) == PAYNET_COOLDOWN);
    CHECK(err.retry_after > 179 && err.delivered == PAYNET_DELIVERED_NO);
    CHECK(call == NULL);
    paynet_client_free(c);
}

static void test_busy_and_early_cancel(void)
{
    char gsm[PAYNET_GSM_SIZE];
    paynet_error err, cancelled;
    paynet_client *c = client();
    unique_gsm(gsm);

    paynet_call *first = NULL, *second = NULL;

    CASE("a second start while one is in flight runs beside it, each its own call");
    CHECK(paynet_send_start(c, gsm, "busy-1", &first, &err) == PAYNET_OK);
    CHECK(paynet_send_start(c, "5000000103", "busy-2", &second, &err) == PAYNET_OK);
    CHECK(first != NULL && second != NULL && first != second);
    CHECK(paynet_call_pollfd(first) > 2 && paynet_call_pollfd(second) > 2
          && paynet_call_pollfd(first) != paynet_call_pollfd(second));

    CASE("the same number twice at once: the second start is refused (cooldown)");
    paynet_call *third = (paynet_call *)&err;
    CHECK(paynet_send_start(c, gsm, "busy-3", &third, &err) == PAYNET_COOLDOWN);
    CHECK(third == NULL && err.delivered == PAYNET_DELIVERED_NO);

    CASE("cancel before the request could leave: delivered no, no hold");
    paynet_call_cancel(first, &cancelled);
    CHECK(cancelled.kind == PAYNET_CANCELLED);
    CHECK(cancelled.delivered == PAYNET_DELIVERED_NO);
    CHECK(!paynet_call_pending(first));
    CHECK(paynet_remaining(c, gsm) == 0);
    CHECK(paynet_call_pending(second)); /* the other call goes on */
    paynet_call_cancel(second, &cancelled);

    CASE("cancel of a call that is over says so");
    paynet_call_cancel(first, &cancelled);
    CHECK(cancelled.kind == PAYNET_CANCELLED && cancelled.delivered == PAYNET_DELIVERED_NO);
    paynet_call_free(first);
    paynet_call_free(second);

    CASE("cancel right after start on a client that sent before: delivered no, no hold");
    paynet_result res;
    CHECK(paynet_send_otp(c, gsm, "sent-before", &res, &err) == PAYNET_OK);
    unique_gsm(gsm);
    CHECK(paynet_send_start(c, gsm, "early-cancel", &first, &err) == PAYNET_OK);
    paynet_call_cancel(first, &cancelled);
    paynet_call_free(first);
    CHECK(cancelled.delivered == PAYNET_DELIVERED_NO);
    CHECK(paynet_remaining(c, gsm) == 0);
    CHECK(logged("session 'early-cancel'") == 0); /* and the sandbox saw nothing */
    paynet_client_free(c);
}

/* A TCP socket listening on a free loopback port (its address in *a), or
 * -1. */
static int loopback_listener(int backlog, struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof *a;
    if (fd >= 0 && (bind(fd, (struct sockaddr *)a, sizeof *a) != 0 || listen(fd, backlog) != 0
                    || getsockname(fd, (struct sockaddr *)a, &len) != 0)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* A proxy that refuses every tunnel (403 to CONNECT): nothing of the POST
 * ever leaves, so the send fails with delivered no (and is retried), its
 * CONNECT requests notwithstanding.  Runs in a child and writes to `seen`
 * a 'C' for each CONNECT it refused, an 'X' for any other request, an 'E'
 * for a connection closed before any; returns its port. */
static int refusing_proxy(pid_t *pid, int seen)
{
    struct sockaddr_in a;
    int fd = loopback_listener(8, &a);
    if (fd < 0)
        return -1;
    *pid = fork();
    if (*pid == 0) {
        for (;;) {
            int conn = accept(fd, NULL, NULL);
            char buf[2048] = {0};
            size_t got = 0;
            ssize_t n;
            while (got < sizeof buf - 1 && (n = read(conn, buf + got, sizeof buf - 1 - got)) > 0) {
                got += (size_t)n;
                buf[got] = '\0';
                if (strstr(buf, "\r\n\r\n") != NULL)
                    break;
            }
            static const char no[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
            char kind = got == 0 ? 'E' : strncmp(buf, "CONNECT ", 8) == 0 ? 'C' : 'X';
            /* counted before the answer: the client may be done at once */
            if (write(seen, &kind, 1) != 1 || write(conn, no, sizeof no - 1) < 0)
                _exit(1);
            close(conn);
        }
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* Stops the refusing proxy and returns what it saw ("CC", ...). */
static const char *proxy_stop(pid_t pid, int seen[2], char kinds[16])
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    close(seen[1]);
    memset(kinds, 0, 16);
    if (read(seen[0], kinds, 15) < 0)
        kinds[0] = '\0';
    close(seen[0]);
    return kinds;
}

static void test_refused_tunnel(int loop)
{
    char name[128];
    snprintf(name, sizeof name, "a proxy that refuses the tunnel (%s): delivered no, retried, "
                                "nothing held", ways[loop]);
    CASE(name);
    pid_t pid = -1;
    int seen[2] = {-1, -1};
    CHECK(pipe(seen) == 0);
    int port = refusing_proxy(&pid, seen[1]);
    CHECK(port > 0);
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", port);
    paynet_config config;
    paynet_client *c = NULL;
    paynet_error err;
    paynet_result res;
    config_for(&config, "https://127.0.0.1:9");
    config.proxy = proxy;
    CHECK(paynet_client_new(&config, &c, &err) == PAYNET_OK);
    char gsm[PAYNET_GSM_SIZE];
    unique_gsm(gsm);
    /* a first refusal, then the same client again (its REQUEST_SIZE from
     * the first transfer must not count for the second) */
    for (int i = 0; i < 2 && c != NULL; i++) {
        paynet_status s = send_way(loop, c, gsm, "tunnel", &res, &err);
        CHECK(s != PAYNET_OK);
        CHECK(err.delivered == PAYNET_DELIVERED_NO);
        CHECK(paynet_remaining(c, gsm) == 0);
    }
    paynet_client_free(c);
    /* two sends, each a first attempt and its one retry: four refused
     * tunnels, and never a request of any other kind */
    char kinds[16];
    CHECK_STR(proxy_stop(pid, seen, kinds), "CCCC");
}

static void test_cancel_after_sending(void)
{
    paynet_result res;
    paynet_error err, cancelled;
    paynet_client *c = client();
    paynet_call *call = NULL;

    CASE("cancel after the request left: delivered unknown, number held");
    CHECK(paynet_send_start(c, "5000000103", "cancel-late", &call, &err) == PAYNET_OK);
    double until = now() + 0.5;
    while (now() < until) {
        CHECK(paynet_call_step(call, &res, &err) == PAYNET_PENDING);
        paynet_call_wait(call, -1, 50, NULL, &err);
    }
    double t0 = now();
    paynet_call_cancel(call, &cancelled);
    paynet_call_free(call);
    CHECK(now() - t0 < 0.1);
    CHECK(cancelled.kind == PAYNET_CANCELLED);
    CHECK(cancelled.delivered == PAYNET_DELIVERED_UNKNOWN);
    CHECK(cancelled.retry_after == 180);
    CHECK(paynet_remaining(c, "5000000103") > 179);
    CHECK(paynet_send_start(c, "5000000103", "again", &call, &err) == PAYNET_COOLDOWN);

    CASE("the client sends again after a cancel (a fresh connection)");
    char gsm[PAYNET_GSM_SIZE];
    unique_gsm(gsm);
    CHECK(paynet_send_start(c, gsm, "after-cancel", &call, &err) == PAYNET_OK);
    CHECK(run(call, &res, &err) == PAYNET_OK);
    paynet_client_free(c);
}

/* Sandbox faults 19 and 20: on a kept-alive connection the server reads
 * the request and closes (or resets) the connection without a reply; on a
 * fresh connection it would answer success.  libcurl replays a POST on a
 * fresh connection by itself: that replay would be a second SMS. */
static void test_no_replay(int loop)
{
    static const char *const faults[] = {"19", "20"};
    for (int i = 0; i < 2; i++) {
        char gsm[PAYNET_GSM_SIZE], number[PAYNET_GSM_SIZE], name[128];
        paynet_result res;
        paynet_error err;
        snprintf(name, sizeof name, "a kept-alive connection %s after the request (%s): not "
                                    "sent again", i == 0 ? "closed" : "reset", ways[loop]);
        CASE(name);
        paynet_client *c = client();
        unique_gsm(gsm);
        /* the same way both times (one connection serves both ways) */
        CHECK(send_way(loop, c, gsm, "opens", &res, &err) == PAYNET_OK);
        int before = arrivals(faults[i]);
        snprintf(number, sizeof number, "50000001%s", faults[i]);
        CHECK(send_way(loop, c, number, "no-replay", &res, &err) == PAYNET_NETWORK);
        CHECK(err.delivered == PAYNET_DELIVERED_UNKNOWN);
        CHECK(strstr(err.message, "it was not sent again") != NULL);
        CHECK(paynet_remaining(c, number) > 170);
        CHECK(arrivals(faults[i]) == before + 1);
        paynet_client_free(c);
    }
}

static void test_wait(void)
{
    int fds[2];
    int ready = -1;
    paynet_error err;
    paynet_result res;
    paynet_client *c = client();
    paynet_call *call = NULL;
    CASE("wait with nothing in flight sleeps for its timeout");
    CHECK(pipe(fds) == 0); /* without it, the cases below fail, not vanish */
    double t0 = now();
    CHECK(paynet_call_wait(NULL, fds[0], 150, &ready, &err) == PAYNET_OK);
    double took = now() - t0;
    CHECK(took >= 0.14 && took < 0.5);
    CHECK(ready == 0);

    CASE("wait returns at once when the extra descriptor is readable");
    CHECK(write(fds[1], "k", 1) == 1);
    t0 = now();
    CHECK(paynet_call_wait(NULL, fds[0], 5000, &ready, &err) == PAYNET_OK);
    CHECK(now() - t0 < 0.1);
    CHECK(ready == 1);

    CASE("wait sees the extra descriptor during a send in flight");
    CHECK(paynet_send_start(c, "5000000103", "wait-key", &call, &err) == PAYNET_OK);
    CHECK(paynet_call_step(call, &res, &err) == PAYNET_PENDING);
    t0 = now();
    CHECK(paynet_call_wait(call, fds[0], 5000, &ready, &err) == PAYNET_OK);
    CHECK(now() - t0 < 0.1);
    CHECK(ready == 1);
    paynet_call_cancel(call, &err);
    paynet_call_free(call);

    close(fds[0]);
    close(fds[1]);
    paynet_client_free(c);
}

/* Two sends on one poll(2) loop, driven only by pollfd, events, timeout
 * and step: both wait on the sandbox's 3-second reply at once. */
static void test_pollable(void)
{
    /* two ledgers: on one, the second send to the number would be refused */
    char second[64];
    snprintf(second, sizeof second, "sqlite:/tmp/paynet-test-transport-%d.db", (int)getpid());
    paynet_client *c[2] = {client(), client_on(second)};
    paynet_result res[2];
    paynet_error err[2];
    paynet_status status[2] = {PAYNET_PENDING, PAYNET_PENDING};
    paynet_call *call[2] = {NULL, NULL};
    int steps = 0, timeouts = 0;

    CASE("two sends to a 3-second reply on one poll loop end in about 3 s");
    int slow_before = arrivals("15");
    double t0 = now();
    for (int i = 0; i < 2; i++)
        CHECK(paynet_send_start(c[i], "5000000115", "poll-loop", &call[i], &err[i])
              == PAYNET_OK);
    if (call[0] == NULL || call[1] == NULL)
        return;
    int fd0 = paynet_call_pollfd(call[0]);
    CHECK(fd0 > 2 && paynet_call_pollfd(call[1]) > 2 && paynet_call_pollfd(call[1]) != fd0);
    CHECK(paynet_call_events(call[0]) == POLLIN);
    CHECK(paynet_call_timeout(call[0]) == 0); /* libcurl wants its first call at once */
    while (status[0] == PAYNET_PENDING || status[1] == PAYNET_PENDING) {
        struct pollfd fds[2];
        int timeout = -1;
        for (int i = 0; i < 2; i++) {
            fds[i].fd = status[i] == PAYNET_PENDING ? paynet_call_pollfd(call[i]) : -1;
            fds[i].events = (short)paynet_call_events(call[i]);
            int t = status[i] == PAYNET_PENDING ? paynet_call_timeout(call[i]) : -1;
            if (t >= 0 && (timeout < 0 || t < timeout))
                timeout = t;
        }
        if (timeout < 0 || timeout > 10000)
            timeout = 10000; /* a lost wake-up fails the case, not the suite */
        if (poll(fds, 2, timeout) == 0)
            timeouts++;
        for (int i = 0; i < 2; i++)
            if (status[i] == PAYNET_PENDING)
                status[i] = paynet_call_step(call[i], &res[i], &err[i]);
        steps++;
        if (now() - t0 > 20)
            break;
    }
    double took = now() - t0;
    CHECK(status[0] == PAYNET_OK && status[1] == PAYNET_OK);
    CHECK(took >= 2.9 && took < 5.5);
    CHECK(steps < 200); /* woken by events, not spinning */
    CHECK(status[0] == PAYNET_OK && strcmp(res[0].user_gsm, "5000000115") == 0);
    CHECK(arrivals("15") == slow_before + 2); /* one request each */
    CHECK(paynet_call_pollfd(call[0]) == fd0); /* the call's for its life */
    CHECK(paynet_call_timeout(call[0]) == -1); /* over */

    CASE("the timeout alone ends a send to a silent server, when libcurl says");
    for (int i = 0; i < 2; i++) {
        paynet_call_free(call[i]);
        paynet_client_free(c[i]);
    }
    static const char *const files[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char path[96];
        snprintf(path, sizeof path, "%s%s", second + strlen("sqlite:"), files[i]);
        unlink(path);
    }
    paynet_config config;
    paynet_client *slow = NULL;
    config_for(&config, url);
    config.timeout = 1;
    config.retries = 0;
    CHECK(paynet_client_new(&config, &slow, &err[0]) == PAYNET_OK);
    if (slow == NULL)
        return;
    int silent_before = arrivals("03");
    t0 = now();
    CHECK(paynet_send_start(slow, "5000000103", "silent", &call[0], &err[0]) == PAYNET_OK);
    paynet_status s = call[0] != NULL ? PAYNET_PENDING : PAYNET_INVALID;
    while (s == PAYNET_PENDING && now() - t0 < 10) {
        struct pollfd pfd = {paynet_call_pollfd(call[0]), (short)paynet_call_events(call[0]), 0};
        int t = paynet_call_timeout(call[0]);
        poll(&pfd, 1, t < 0 || t > 5000 ? 5000 : t);
        s = paynet_call_step(call[0], &res[0], &err[0]);
    }
    paynet_call_free(call[0]);
    took = now() - t0;
    CHECK(s == PAYNET_TIMEOUT);
    CHECK(err[0].delivered == PAYNET_DELIVERED_UNKNOWN);
    CHECK_STR(err[0].message, "no complete reply within 1 s (the request was sent)");
    CHECK(took >= 0.95 && took < 2.5);
    CHECK(arrivals("03") == silent_before + 1); /* retries 0: one request */

    CASE("after a timeout the client sends on a fresh connection, not the silent one");
    char fresh[PAYNET_GSM_SIZE];
    unique_gsm(fresh);
    CHECK(paynet_send_otp(slow, fresh, "after-silent", &res[0], &err[0]) == PAYNET_OK);
    paynet_client_free(slow);
}

/* A loop that was busy past the deadline and steps late: the step starts
 * nothing (no request, no retry); the send ends as a timeout that says
 * nothing was sent, and the number is not held. */
static void test_late_step(void)
{
    paynet_config config;
    paynet_client *c = NULL;
    paynet_result res;
    paynet_error err;
    char gsm[PAYNET_GSM_SIZE];
    CASE("a step after the deadline on a kept-alive connection sends nothing");
    config_for(&config, url);
    config.timeout = 1;
    CHECK(paynet_client_new(&config, &c, &err) == PAYNET_OK);
    if (c == NULL)
        return;
    unique_gsm(gsm);
    CHECK(send_way(1, c, gsm, "opens", &res, &err) == PAYNET_OK); /* the connection */
    unique_gsm(gsm);
    char session[64], needle[96]; /* this run's own: the log outlives a run */
    snprintf(session, sizeof session, "late-step-%s", gsm);
    snprintf(needle, sizeof needle, "session '%s'", session);
    paynet_call *call = NULL;
    CHECK(paynet_send_start(c, gsm, session, &call, &err) == PAYNET_OK);
    struct timespec busy = {1, 300000000}; /* the loop does other work */
    nanosleep(&busy, NULL);
    CHECK(paynet_call_step(call, &res, &err) == PAYNET_TIMEOUT);
    paynet_call_free(call);
    CHECK(err.delivered == PAYNET_DELIVERED_NO);
    CHECK_STR(err.message, "no complete reply within 1 s (the request had not been sent)");
    CHECK(paynet_remaining(c, gsm) == 0);
    struct timespec settle = {0, 200000000};
    nanosleep(&settle, NULL); /* a request, had one left, would be logged by now */
    CHECK(logged(needle) == 0);
    paynet_client_free(c);

    CASE("a retry that falls due after the deadline is not made");
    pid_t pid = -1;
    int seen[2] = {-1, -1};
    CHECK(pipe(seen) == 0);
    int port = refusing_proxy(&pid, seen[1]);
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", port);
    config_for(&config, "https://127.0.0.1:9");
    config.proxy = proxy;
    config.timeout = 1;
    config.retries = 1;
    c = NULL;
    CHECK(paynet_client_new(&config, &c, &err) == PAYNET_OK);
    if (c != NULL) {
        unique_gsm(gsm);
        double t0 = now();
        CHECK(paynet_send_start(c, gsm, "late-retry", &call, &err) == PAYNET_OK);
        paynet_status s = PAYNET_PENDING;
        while (s == PAYNET_PENDING && now() - t0 < 0.15) { /* the first attempt is refused */
            s = paynet_call_step(call, &res, &err);
            paynet_call_wait(call, -1, 10, NULL, &err);
        }
        CHECK(s == PAYNET_PENDING); /* its retry waits */
        nanosleep(&busy, NULL);
        CHECK(paynet_call_step(call, &res, &err) == PAYNET_TIMEOUT);
        paynet_call_free(call);
        CHECK(err.delivered == PAYNET_DELIVERED_NO);
        CHECK_STR(err.message, "no complete reply within 1 s (the request had not been sent)");
        CHECK(paynet_remaining(c, gsm) == 0);
        paynet_client_free(c);
        struct timespec drain = {0, 300000000};
        nanosleep(&drain, NULL); /* a connection made, had one been, is counted by now */
    }
    char kinds[16];
    CHECK_STR(proxy_stop(pid, seen, kinds), "C"); /* the first attempt only */
}

/* A listener whose backlog is full: the kernel drops further SYNs, so a
 * connect hangs until the connect timeout, which the message names. */
static void test_connect_timeout(int loop)
{
    struct sockaddr_in a;
    int fd = loopback_listener(0, &a), fillers[4] = {-1, -1, -1, -1};
    if (fd < 0) {
        CHECK(!"a listening socket");
        return;
    }
    for (int i = 0; i < 4; i++) { /* fill the queue; the later ones just wait */
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fillers[i], (struct sockaddr *)&a, sizeof a);
    }
    struct timespec settle = {0, 100000000};
    nanosleep(&settle, NULL);
    char base[64], name[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", ntohs(a.sin_port));
    snprintf(name, sizeof name, "a connect that times out (%s): the message names the connect "
                                "timeout, delivered no", ways[loop]);
    CASE(name);
    paynet_config config;
    paynet_client *c = NULL;
    paynet_result res;
    paynet_error err;
    config_for(&config, base);
    config.connect_timeout = 0.5;
    config.retries = 0;
    CHECK(paynet_client_new(&config, &c, &err) == PAYNET_OK);
    if (c != NULL) {
        double t0 = now();
        CHECK(send_way(loop, c, "5321234567", "connect", &res, &err) == PAYNET_TIMEOUT);
        double took = now() - t0;
        CHECK(err.delivered == PAYNET_DELIVERED_NO);
        CHECK(strncmp(err.message, "no connection within 0.5 s (", 28) == 0);
        if (strncmp(err.message, "no connection within 0.5 s (", 28) != 0)
            printf("  message: %s\n", err.message);
        CHECK(took >= 0.45 && took < 2);
        paynet_client_free(c);
    }
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    close(fd);
}

/* A server that accepts connections (the kernel does, from the backlog)
 * and never says a word: over HTTPS, libcurl's handshake never ends, so
 * no byte of the request leaves before the send's deadline. */
static void test_deadline_before_sending(int loop)
{
    struct sockaddr_in a;
    int fd = loopback_listener(8, &a);
    if (fd < 0) {
        CHECK(!"a listening socket");
        return;
    }
    char base[64];
    snprintf(base, sizeof base, "https://127.0.0.1:%d", ntohs(a.sin_port));
    paynet_config config;
    paynet_client *c = NULL;
    paynet_result res;
    paynet_error err;
    config_for(&config, base);
    config.timeout = 1;
    char name[128];
    snprintf(name, sizeof name, "a deadline that passes during the TLS handshake (%s): "
                                "delivered no, said so, not held", ways[loop]);
    CASE(name);
    CHECK(paynet_client_new(&config, &c, &err) == PAYNET_OK);
    if (c == NULL)
        return;
    double t0 = now();
    CHECK(send_way(loop, c, "5321234567", "handshake", &res, &err) == PAYNET_TIMEOUT);
    double took = now() - t0;
    CHECK(err.delivered == PAYNET_DELIVERED_NO);
    CHECK_STR(err.message, "no complete reply within 1 s (the request had not been sent)");
    CHECK(err.held == 0);
    CHECK(took >= 0.95 && took < 2.5);
    int held = 1;
    paynet_holder holder;
    CHECK(paynet_hold_lookup(c, "5321234567", &held, &holder, &err) == PAYNET_OK && held == 0);
    paynet_client_free(c);
    /* the server's side: one connection (no retry after the deadline),
     * which got a TLS handshake record and never a request */
    int connections = 0, requests = 0;
    struct pollfd pending = {fd, POLLIN, 0};
    while (poll(&pending, 1, 0) == 1) {
        int conn = accept(fd, NULL, NULL);
        if (conn < 0)
            break;
        char first[8] = {0};
        if (read(conn, first, sizeof first) > 0 && first[0] != 0x16) /* not a TLS record */
            requests++;
        connections++;
        close(conn);
    }
    CHECK(connections == 1);
    CHECK(requests == 0);
    close(fd);
}

/* A fork's child inherits the client with the parent's send in flight:
 * it gets a typed error, and freeing it there leaves the parent's send,
 * descriptor and hold alone. */
static void test_fork(void)
{
    paynet_client *c = client();
    paynet_result res;
    paynet_error err;
    char gsm[PAYNET_GSM_SIZE];
    unique_gsm(gsm);
    CASE("a forked child cannot use its parent's client, and freeing it there harms no send");
    int before = arrivals("15");
    paynet_call *call = NULL, *child = NULL;
    CHECK(paynet_send_start(c, "5000000115", "fork", &call, &err) == PAYNET_OK);
    CHECK(paynet_call_step(call, &res, &err) == PAYNET_PENDING);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int ok = paynet_send_start(c, gsm, "child", &child, &err) == PAYNET_INVALID
                 && strstr(err.message, "another process") != NULL
                 && paynet_call_step(call, &res, &err) == PAYNET_INVALID;
        int held = 0;
        paynet_holder holder;
        ok = ok && paynet_hold_lookup(c, gsm, &held, &holder, &err) == PAYNET_INVALID;
        paynet_call_cancel(call, &err);
        ok = ok && err.kind == PAYNET_INVALID;
        paynet_call_free(call);
        paynet_client_free(c);
        _exit(ok ? 0 : 1);
    }
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(paynet_call_pending(call));
    CHECK(run(call, &res, &err) == PAYNET_OK);
    CHECK(paynet_remaining(c, "5000000115") > 170); /* the parent's hold stands */
    CHECK(arrivals("15") == before + 1);                /* and one request went out */
    paynet_client_free(c);
}

static void test_config(void)
{
    paynet_config config;
    paynet_client *c = (paynet_client *)&config;
    paynet_error err;

    CASE("client_new refuses a bad configuration and returns no client");
    paynet_config_init(&config);
    CHECK(paynet_client_new(&config, &c, &err) == PAYNET_INVALID);
    CHECK(c == NULL);
    CHECK(strstr(err.message, "secret_key is required") != NULL);
    config.secret_key = "k";
    config.retries = 9;
    CHECK(paynet_client_new(&config, &c, &err) == PAYNET_INVALID);
    CHECK(strstr(err.message, "retries") != NULL);
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: test-transport SANDBOX_URL SANDBOX_LOG [LABEL]\n");
        return 2;
    }
    url = argv[1];
    sandbox_log = argv[2];
    /* each case starts with no holds: the fault numbers are sent again and
     * again ("memory" is the process's one table) */
    paynet_ledger_memory_forget();
    test_success();
    paynet_ledger_memory_forget();
    test_busy_and_early_cancel();
    paynet_ledger_memory_forget();
    test_cancel_after_sending();
    for (int loop = 0; loop < 2; loop++) {
        paynet_ledger_memory_forget();
        test_no_replay(loop);
        paynet_ledger_memory_forget();
        test_refused_tunnel(loop);
    }
    paynet_ledger_memory_forget();
    test_wait();
    paynet_ledger_memory_forget();
    test_pollable();
    paynet_ledger_memory_forget();
    test_fork();
    for (int loop = 0; loop < 2; loop++) {
        paynet_ledger_memory_forget();
        test_deadline_before_sending(loop);
    }
    paynet_ledger_memory_forget();
    test_late_step();
    for (int loop = 0; loop < 2; loop++) {
        paynet_ledger_memory_forget();
        test_connect_timeout(loop);
    }
    test_config();
    return unit_finish(argc == 4 ? argv[3] : "C transport tests");
}
