/*
 * client.h — the client and its send, shared by the core's files that make
 * them up (doc/design.md, "The send"); not installed.
 *
 *   client.c     configuration, lifetime, what every part shares
 *   transport.c  libcurl only: handles, callbacks, did the request leave
 *   hold.c       claim, settle, lookup and release over the ledger
 *   send.c       the state machine of a send, and the blocking send
 */
#ifndef PAYNET_CLIENT_H
#define PAYNET_CLIENT_H

#include <sys/types.h>

#include <curl/curl.h>

#include "ledger.h"

/* The oldest libcurl this code builds and runs with: 7.80.0 has the
 * pre-request callback, which keeps libcurl from sending a POST twice
 * (transport.c); CURLOPT_PROTOCOLS_STR (7.85.0) falls back to
 * CURLOPT_PROTOCOLS.  Tested with 7.88.1 (Debian 12). */
#define CURL_MINIMUM 0x075000
#define CURL_MINIMUM_TEXT "7.80.0"
#if LIBCURL_VERSION_NUM < CURL_MINIMUM
#error "libpaynet needs libcurl 7.80.0 or newer"
#endif

#define TEST_HOST "https://pts-api.paynet.com.tr"
#define LIVE_HOST "https://api.paynet.com.tr"
#define SEND_OTP_PATH "/v1/card/send_otp"
#define URL_MAX 2048
#define RETRY_DELAY 0.25
/* A claim holds its number past the call for at least this long: a code
 * Paynet sent may live this long, and when the settle after a success is
 * lost (the ledger died, the sender was killed) the claim's own hold is
 * all that keeps another desk from sending.  Paynet's codes live 180 s. */
#define CLAIM_COVERS_CODE 600.0

struct reply {
    char *data;
    size_t length, capacity;
    int overflow, nomem;
};

/* Where a call stands, as curl's CURLMstate says where a transfer does.
 * paynet_send_start claims the number (IDLE -> CLAIMED) and starts the
 * first attempt (-> TRANSFER); paynet_call_step sees an attempt end: one
 * that failed before any byte of the body left, with retries and time
 * remaining, waits (-> RETRY_WAIT -> TRANSFER); any other ends the call,
 * settled in the ledger (-> IDLE).  paynet_call_cancel ends it from any
 * state but IDLE.  The blocking paynet_send_otp is a loop over the same
 * machine. */
enum send_state {
    SEND_IDLE,       /* over (or never begun); the easy handle is off the multi */
    SEND_CLAIMING,   /* the ledger was busy: the claim is asked again at retry_at */
    SEND_CLAIMED,    /* the ledger holds the number for us; no attempt running */
    SEND_TRANSFER,   /* the easy handle is on the multi: libcurl moves bytes */
    SEND_RETRY_WAIT, /* between attempts, off the multi, until retry_at */
    SEND_SETTLING    /* the outcome is known; the busy ledger is told at retry_at */
};

#define LEDGER_RETRY 0.02 /* seconds between asks of a busy ledger */
/* How long paynet_hold_peek waits for a ledger's answer on the wire
 * before it answers PAYNET_PENDING (the screen asks on every turn). */
#define PEEK_PATIENCE 0.02
/* A settle may run this long past the call's deadline: the outcome of an
 * attempt cut at the deadline is recorded too, and the call still ends
 * within half a second of its timeout. */
#define SETTLE_GRACE 0.3
/* Calls a client keeps for the next ones once they ended (each with its
 * easy handle and epoll set), and connections libcurl keeps alive: as
 * many as there were calls at once, up to this many. */
#define CALLS_KEPT 32

/* One call: a send and everything it does, its own machine (doc/design.md,
 * "The send").  A client runs any number at once; they share its
 * configuration, its libcurl multi handle (and so its kept-alive
 * connections) and its ledger. */
struct paynet_call {
    paynet_client *client;           /* NULL once the client was freed under it */
    struct paynet_call *prev, *next; /* the client's calls in flight, or its kept ones */
    CURL *easy;     /* this call's transfer; CURLINFO_PRIVATE is the call */
    int epfd;       /* the sockets of this call's transfer (the socket callback) */
    int ledger_fd;  /* the ledger's descriptor, in epfd while its answer is awaited; -1 */
    enum send_state state;
    int attempts_left;
    double deadline, retry_at;
    char gsm[PAYNET_GSM_SIZE];
    char body[PAYNET_BODY_SIZE]; /* the request's JSON, written in place */
    size_t body_length;
    int body_left; /* the request may have left on some attempt */
    int prereqs;   /* requests libcurl began in this attempt */
    long request_base; /* CURLINFO_REQUEST_SIZE before the first: a proxy's CONNECT */
    struct reply reply;
    int have_date;
    double date;
    int ran_out; /* the call's deadline passed before the transfer ended */
    int done;    /* libcurl finished the transfer (seen by whichever call drove it) */
    CURLcode done_rc;
    char errbuf[CURL_ERROR_SIZE];

    /* the outcome that waits for the ledger to record it (SEND_SETTLING) */
    paynet_status final_status;
    paynet_result final_result;
    paynet_error final_err;
    char settle_state[16];
    double settle_seconds;

    /* this call's claim in the ledger */
    char key[LEDGER_KEY_SIZE];
    char token[LEDGER_TOKEN_SIZE];
    paynet_holder record; /* who sends: the claim's record */
};

struct paynet_client {
    CURL *model;     /* configured once; each call's easy handle is its copy */
    CURLM *multi;
    pid_t owner;     /* the process that made it: a fork's child may not use it */
    double timer_at; /* when libcurl wants to be called anyway; < 0: never */
    struct curl_slist *headers;
    char *url;
    char *secret;  /* kept only to scrub it from server text */
    struct paynet_secret_pairs secret_pairs; /* its pairs of bytes, for the scrub */
    double timeout, connect_timeout, unknown_hold;
    int retries;
    void (*debug)(void *data, const char *line);
    void *debug_data;

    struct paynet_call *live; /* calls in flight or not yet freed by their caller */
    struct paynet_call *kept; /* ended calls, ready for the next (CALLS_KEPT at most) */
    int kept_count;

    /* the ledger */
    struct ledger *ledger;
    /* when paynet_hold_peek first answered PAYNET_PENDING with no answer
     * since (paynet_clock_mono; 0: none): its asks end by then plus the
     * ledger's timeout, whichever numbers they were about */
    double peek_since;
    struct ledger *local; /* this client's own sends (NULL when ledger is memory) */
    struct paynet_ledger_hasher *hasher;
    struct paynet_token_pool tokens;
    char last_gsm[PAYNET_GSM_SIZE]; /* key_of's one-entry cache */
    char last_key[LEDGER_KEY_SIZE];
    paynet_holder who; /* who sends, with this client's scope: each claim's start */
};

/* ---- client.c ---- */
paynet_status client_invalid(paynet_error *err, const char *what);
/* A forked child shares the parent's connections: a typed error there. */
paynet_status client_check_process(const paynet_client *c, paynet_error *err);
void client_debug(const paynet_client *c, const char *format, ...) PAYNET_PRINTF(2, 3);
void client_wipe(char *s);

/* ---- transport.c ---- */
struct curl_slist *transport_build_headers(const char *secret);
paynet_status transport_set_options(paynet_client *c, const paynet_config *config);
paynet_status transport_call_init(struct paynet_call *call);
int transport_on_socket(CURL *easy, curl_socket_t fd, int what, void *data, void *socketp);
int transport_on_timer(CURLM *multi, long ms, void *data);
void transport_reset_attempt(struct paynet_call *call);
paynet_status transport_begin_attempt(struct paynet_call *call, paynet_error *err);
CURLMcode transport_drive(struct paynet_call *call, int wait_ms);
int transport_request_written(const struct paynet_call *call);
int transport_request_may_have_left(const struct paynet_call *call);
paynet_status transport_finish(struct paynet_call *call, CURLcode rc, paynet_result *result,
                               paynet_error *err);

/* ---- hold.c ---- */
paynet_status hold_claim(struct paynet_call *call, const char *gsm, const char *session_id,
                         paynet_error *err);
int hold_settle(struct paynet_call *call, const char *state, double seconds,
                const char *otp_expire, char *warning, size_t warning_size);
/* After a claim or settle answered PAYNET_PENDING: the ledger's descriptor
 * joins the call's epoll set, so that its answer wakes the call. */
void hold_watch(struct paynet_call *call);
/* The claim or settle in flight is not asked again: the ledger drops its
 * answer (a claim granted then is given back); the descriptor leaves. */
void hold_abandon(struct paynet_call *call);
void hold_unwatch(struct paynet_call *call);

/* ---- send.c ---- */
void send_end(struct paynet_call *call);
void send_destroy(struct paynet_call *call);

#endif
