/*
 * paynet.h — libpaynet, the one public header.
 *
 * libpaynet makes one remote call well: Paynet's POST /v1/card/send_otp.
 * It validates input before any I/O, keeps one libcurl connection alive per
 * client, parses the reply strictly, and reports failures as typed values
 * that say whether an SMS may have gone out (`delivered`).  It remembers,
 * per client and per number, when the next OTP may be sent (cooldown), and
 * counts that down on the monotonic clock anchored on the server's time.
 *
 * The core never prints, never exits and never aborts on bad data.  Every
 * call that can fail returns a paynet_status and fills a caller-owned
 * paynet_error.  The secret key never appears in any message.
 *
 * A send can run blocking (paynet_send_otp) or non-blocking: paynet_send_start
 * returns a call (paynet_call_step / paynet_call_wait / paynet_call_cancel /
 * paynet_call_free), and the blocking send is start and a loop over it.  A
 * client runs any number of calls at once, sharing its connections.
 */
#ifndef PAYNET_H
#define PAYNET_H

#include <stddef.h>
#include <stdint.h>

#define PAYNET_VERSION "0.2.0"

/* What the shared library exports: every function of this header, and
 * nothing else (the core is built with -fvisibility=hidden). */
#if defined(__GNUC__)
#define PAYNET_EXPORT __attribute__((visibility("default")))
#else
#define PAYNET_EXPORT
#endif

/* Result codes (`code` / `result_code`) from Paynet's documentation:
 * X(number, name, meaning).  Generates the enum and the tables in codes.c. */
#define PAYNET_CODE_LIST(X)                                                    \
    X(0, successful, "operation succeeded")                                    \
    X(1, unsuccessful, "operation failed")                                     \
    X(2, companyblocked, "the merchant company is blocked")                    \
    X(3, agentblocked, "the agent is blocked")                                 \
    X(4, agentnotfound, "agent not found")                                     \
    X(5, duplicatedata, "duplicate data")                                      \
    X(6, noprocess, "no process")                                              \
    X(7, unauthorized, "unauthorized: wrong or missing secret key")            \
    X(8, servererror, "server error")                                          \
    X(9, notimplemented, "not implemented")                                    \
    X(10, timeout, "timeout at Paynet")                                        \
    X(11, badrequest, "bad request")                                           \
    X(12, nodata, "no data")                                                   \
    X(13, paynetjnosession, "no such session")                                 \
    X(14, paynetjwrongbin, "wrong card BIN")                                   \
    X(15, paynetjunmatchtran, "transaction does not match")                    \
    X(16, paynetj3derror, "3D Secure error")                                   \
    X(17, paynetjusedsession, "session already used")                          \
    X(18, wrongcarddata, "wrong card data")                                    \
    X(19, wrongtransactiontype, "wrong transaction type")                      \
    X(20, wrongpostype, "wrong POS type")                                      \
    X(21, wrongratioget, "ratio could not be read")                            \
    X(100, oldsuccessful, "already succeeded earlier")

enum paynet_code {
#define PAYNET_CODE_ENUM(number, name, meaning) PAYNET_CODE_##name = number,
    PAYNET_CODE_LIST(PAYNET_CODE_ENUM)
#undef PAYNET_CODE_ENUM
};

/* No Paynet result code is attached to this error. */
#define PAYNET_NO_CODE (-1)

/* Outcome of a call.  PAYNET_OK and PAYNET_PENDING are not errors; every
 * other value is an error kind. */
typedef enum paynet_status {
    PAYNET_OK = 0,
    PAYNET_INVALID,   /* bad input; no I/O done */
    PAYNET_COOLDOWN,  /* resend before that number's otp_expire; no I/O */
    PAYNET_LEDGER,    /* the ledger could not be read or written; nothing sent */
    PAYNET_NETWORK,   /* DNS, refused, reset */
    PAYNET_TIMEOUT,   /* the call's time ran out */
    PAYNET_TLS,       /* handshake or certificate failure */
    PAYNET_HTTP,      /* non-200 without a usable Paynet error object */
    PAYNET_API,       /* Paynet answered with a non-zero code or an error object */
    PAYNET_PROTOCOL,  /* unusable reply: not JSON, wrong types, too large ... */
    PAYNET_NOMEM,     /* an allocation failed */
    PAYNET_CANCELLED, /* paynet_call_cancel stopped the send */
    PAYNET_BUSY,      /* a release while the number's send is in flight */
    PAYNET_PENDING    /* paynet_call_step: not finished yet */
} paynet_status;

/* Did an SMS possibly go out?  NO: the request provably never left (no
 * byte of the body went to libcurl on any attempt).  YES: the server
 * answered.  UNKNOWN: the request may have been sent and the reply was
 * lost, or a gateway answered 5xx for a backend that may have sent. */
typedef enum paynet_delivered {
    PAYNET_DELIVERED_NO = 0,
    PAYNET_DELIVERED_YES,
    PAYNET_DELIVERED_UNKNOWN
} paynet_delivered;

/* What a call's end means, for the operator and for the number: decided
 * once by the core for every result and failure (doc/design.md, "One
 * verdict"), from what happened on the wire; the front ends switch on it
 * and derive nothing of their own.  X(enum suffix, name, holds the number
 * after this failure).  Once a request may have reached Paynet or a
 * gateway in front of it, any reply that is not Paynet's own error object
 * with a non-zero result code is MAYBE_SENT: a 5xx of any size, an
 * oversized or unusable 200, an error object saying result code 0, a
 * redirect, a page from a proxy. */
#define PAYNET_OUTCOME_LIST(X)                                                 \
    X(SENT, "sent", 1)                 /* Paynet accepted: held until otp_expire */ \
    X(NOT_SENT, "not_sent", 0)         /* provably nothing left (DNS, refused, TLS) */ \
    X(MAYBE_SENT, "maybe_sent", 1)     /* may have reached Paynet; no usable answer */ \
    X(REFUSED, "refused", 0)           /* Paynet's own error, a non-zero code (not 5) */ \
    X(DUPLICATE_HELD, "duplicate_held", 1) /* Paynet's code 5: an earlier code is valid */ \
    X(COOLDOWN, "cooldown", 0)         /* the ledger holds the number; no I/O */ \
    X(LEDGER, "ledger", 0)             /* the ledger could not answer; nothing sent */ \
    X(INVALID, "invalid", 0)           /* bad input or misuse; no I/O */ \
    X(CANCELLED, "cancelled", 0)       /* cancelled before the request left */ \
    X(BUSY, "busy", 0)                 /* a release while the send is in flight; nothing done */ \
    X(NOMEM, "nomem", 0)               /* out of memory before the request left */

typedef enum paynet_outcome {
#define PAYNET_OUTCOME_ENUM(suffix, name, holds) PAYNET_OUTCOME_##suffix,
    PAYNET_OUTCOME_LIST(PAYNET_OUTCOME_ENUM)
#undef PAYNET_OUTCOME_ENUM
} paynet_outcome;

#define PAYNET_MESSAGE_SIZE 512
#define PAYNET_GSM_SIZE 11     /* 10 digits and the terminator */
#define PAYNET_EXPIRE_SIZE 64
#define PAYNET_REPLY_CAP (64 * 1024)

#define PAYNET_WHO_SIZE 64
#define PAYNET_SESSION_SIZE 129  /* 128 bytes and the terminator */
#define PAYNET_SCOPE_SIZE 256
#define PAYNET_REASON_SIZE 256

/* Who holds a number in the ledger, and for how long: the record every
 * sender consults before sending (see paynet_ledger in the README). */
typedef struct paynet_holder {
    char state[16];    /* "pending" (a send in flight), "sent", "uncertain"
                          (an SMS may have gone out), "duplicate" (Paynet
                          said an earlier code is still valid); "released"
                          in the release log */
    char masked[PAYNET_GSM_SIZE];         /* "532*****67" */
    char operator_name[PAYNET_WHO_SIZE];  /* $USER of the sender */
    char host[PAYNET_WHO_SIZE];
    char program[PAYNET_WHO_SIZE];        /* "paynet-tui", "paynet-otp", ... */
    char session_id[PAYNET_SESSION_SIZE];
    char scope[PAYNET_SCOPE_SIZE];        /* where it was sent: the URL */
    double sent_at;    /* Unix time of the claim (of the release, in the log) */
    double claim_hold; /* pending: the claim's whole hold, in seconds */
    double send_window; /* pending: seconds from the claim in which its call
                           may still run; past them (claim_hold - remaining,
                           on the ledger's own clock) its sender stopped
                           before recording an outcome */
    char otp_expire[PAYNET_EXPIRE_SIZE];  /* "" until a send succeeded */
    double remaining;  /* seconds the hold lasts from the lookup */
    char reason[PAYNET_REASON_SIZE];      /* release log only */
} paynet_holder;

typedef struct paynet_error {
    paynet_status kind;
    paynet_outcome outcome; /* the verdict: what to tell the operator */
    paynet_delivered delivered;
    long http_status;   /* 0 when no HTTP reply was received */
    int code;           /* Paynet result code, or PAYNET_NO_CODE */
    double retry_after; /* seconds; set for cooldown and for held numbers */
    char message[PAYNET_MESSAGE_SIZE];
    int held;             /* this failure left the number held (retry_after) */
    int has_holder;       /* cooldown: who holds the number */
    paynet_holder holder;
    double replied_at;    /* Unix time the send's last attempt ended (its
                             reply, or its failure), before the ledger was
                             told; 0 for a failure before any attempt */
} paynet_error;

/* The verdict of a failure from what happened on the wire: its kind,
 * whether the request may have left (delivered) and Paynet's result code
 * (PAYNET_NO_CODE when none).  The one rule: err->outcome is always this. */
PAYNET_EXPORT paynet_outcome paynet_verdict(paynet_status kind, paynet_delivered delivered,
                                            int code);
/* "maybe_sent", ... (as Lua's err.outcome and paynet-otp --json) */
PAYNET_EXPORT const char *paynet_outcome_name(paynet_outcome outcome);
/* Whether a call that ended so holds the number afterwards (sent until
 * otp_expire; maybe_sent and duplicate_held for unknown_hold). */
PAYNET_EXPORT int paynet_outcome_holds(paynet_outcome outcome);
/* err->outcome == PAYNET_OUTCOME_MAYBE_SENT: an SMS may have gone out. */
PAYNET_EXPORT int paynet_may_have_sent(const paynet_error *err);

/* An instant in UTC: seconds since the Unix epoch and nanoseconds. */
typedef struct paynet_instant {
    int64_t sec;
    int32_t nsec;
} paynet_instant;

typedef struct paynet_result {
    int code;                /* 0 */
    long http_status;        /* 200 */
    char message[PAYNET_MESSAGE_SIZE];    /* server's text, UTF-8 */
    char otp_expire[PAYNET_EXPIRE_SIZE];  /* raw string from the reply */
    paynet_instant expires_at;            /* otp_expire as a UTC instant */
    double expires_in;       /* seconds left at the reply, server's clock */
    double held_for;         /* seconds the number is held from the reply:
                                the longer of the desk's and the server's
                                estimate, so a wrong clock errs long */
    char user_gsm[PAYNET_GSM_SIZE];       /* normalised number */
    char warning[PAYNET_MESSAGE_SIZE];    /* "" or why the ledger could not
                                             record the hold (the claim's
                                             pending hold still stands) */
    double replied_at;       /* Unix time the reply arrived, before the
                                ledger recorded the hold: "valid until" is
                                replied_at + expires_in */
} paynet_result;

typedef struct paynet_config {
    const char *secret_key;  /* required */
    const char *env;         /* "test" (default) or "live" */
    const char *base_url;    /* overrides env, e.g. "http://127.0.0.1:8080" */
    double timeout;          /* seconds for the whole call; default 15 */
    double connect_timeout;  /* seconds; default 5 */
    const char *cainfo;      /* CA bundle path, or NULL for the system's */
    int retries;             /* 0..3, default 1; only delivered == NO */
    double unknown_hold;     /* seconds a number is held after an
                                uncertain failure; default 180 */
    /* Called during a send with one line (no newline) about something
     * worth a look that is not an error (a Date header ignored ...). */
    void (*debug)(void *debug_data, const char *line);
    void *debug_data;
    /* The ledger every send consults first: "memory" (every client of this process),
     * "sqlite:PATH" (every process of one machine), "redis://[:PASSWORD@]
     * HOST[:PORT][/DB]" or "redis+unix:///PATH[?db=N]" (many machines).
     * NULL: $PAYNET_LEDGER, else "memory". */
    const char *ledger;
    const char *operator_name; /* who sends, in the ledger; NULL: $USER */
    const char *program;       /* which program sends; NULL: "libpaynet" */
    /* The proxy every request goes through: "http://[USER:PASSWORD@]HOST
     * [:PORT]" (or https://, socks4://, socks4a://, socks5://,
     * socks5h://); "" for none even when the environment names one; NULL:
     * libcurl's environment (https_proxy, http_proxy, all_proxy, no_proxy). */
    const char *proxy;
} paynet_config;

typedef struct paynet_client paynet_client;
typedef struct paynet_call paynet_call;

/* ---- client lifetime ---------------------------------------------------- */

PAYNET_EXPORT void paynet_config_init(paynet_config *config);
PAYNET_EXPORT paynet_status paynet_client_new(const paynet_config *config,
                                paynet_client **out, paynet_error *err);
PAYNET_EXPORT void paynet_client_free(paynet_client *client);
PAYNET_EXPORT const char *paynet_client_url(const paynet_client *client);
/* Who sends, as the ledger records it: the config's operator_name, else
 * $USER, else the account's name. */
PAYNET_EXPORT const char *paynet_client_operator(const paynet_client *client);

/* ---- sending ------------------------------------------------------------- */

/* Blocking: validate, check the cooldown, send, decode. */
PAYNET_EXPORT paynet_status paynet_send_otp(paynet_client *client, const char *user_gsm,
                              const char *otp_session_id,
                              paynet_result *result, paynet_error *err);

/* Non-blocking.  start validates, claims the number and queues the
 * request: PAYNET_OK with *call set, or it fails at once (*call NULL).  A
 * client runs any number of calls at once; they share its kept-alive
 * connections.  step drives a call: PAYNET_PENDING while it is in flight,
 * else its final status with result or err filled; after that the call is
 * over (pending 0) and a further step returns PAYNET_INVALID.  cancel
 * abandons a call in flight (PAYNET_CANCELLED in err).  free gives the
 * call back to its client (cancelling it when still in flight); every call
 * is freed once, before or after its client (a call whose client was
 * freed is over: cancelled then). */
PAYNET_EXPORT paynet_status paynet_send_start(paynet_client *client, const char *user_gsm,
                                const char *otp_session_id, paynet_call **call,
                                paynet_error *err);
PAYNET_EXPORT paynet_status paynet_call_step(paynet_call *call, paynet_result *result,
                               paynet_error *err);
PAYNET_EXPORT void paynet_call_cancel(paynet_call *call, paynet_error *err);
PAYNET_EXPORT int paynet_call_pending(const paynet_call *call);
PAYNET_EXPORT void paynet_call_free(paynet_call *call);

/* For any event loop (the cqueues convention: pollfd, events, timeout,
 * step).  While a call is in flight, call paynet_call_step when
 * paynet_call_pollfd is ready for paynet_call_events (poll(2) bits:
 * POLLIN), or when paynet_call_timeout milliseconds have passed (-1: no
 * deadline but the descriptor; 0: at once), whichever comes first; step
 * never blocks.  Each call has its descriptor (an epoll set of its
 * transfer's sockets, filled by libcurl's socket callback), the same for
 * the call's life; never read from it or close it.  wait sleeps until the
 * call (if not NULL) or extra_fd (if >= 0) has something to do, or
 * timeout_ms passes; *extra_ready tells whether extra_fd became readable:
 * one loop waits on the keyboard and the network together. */
PAYNET_EXPORT int paynet_call_pollfd(const paynet_call *call);
PAYNET_EXPORT int paynet_call_events(const paynet_call *call);
PAYNET_EXPORT int paynet_call_timeout(const paynet_call *call);
PAYNET_EXPORT paynet_status paynet_call_wait(paynet_call *call, int extra_fd, int timeout_ms,
                               int *extra_ready, paynet_error *err);

/* Seconds until this normalised number may be sent again (0 when free,
 * -1 when the ledger cannot answer). */
PAYNET_EXPORT double paynet_remaining(paynet_client *client, const char *normalised_gsm);

/* Who holds this number (any accepted spelling): PAYNET_OK with *held set,
 * and when held, *holder filled; or an error (invalid, ledger). */
PAYNET_EXPORT paynet_status paynet_hold_lookup(paynet_client *client, const char *user_gsm,
                                 int *held, paynet_holder *holder, paynet_error *err);

/* The same for a loop that must not stall (the screen asks on every
 * turn): a ledger whose answer is on the wire (Redis) is waited for at
 * most 20 ms, then PAYNET_PENDING: ask again later, the question stays on
 * the wire.  One number at a time per client: asking about another drops
 * the earlier question.  Asks left unanswered end together: past the
 * ledger's timeout (connect_timeout) from the first of them since the
 * last answer, whatever numbers they were about, the answer is a
 * PAYNET_LEDGER error (a server that never answers holds no loop). */
PAYNET_EXPORT paynet_status paynet_hold_peek(paynet_client *client, const char *user_gsm,
                               int *held, paynet_holder *holder, paynet_error *err);

/* Ends the hold on this number whatever its state, recording who (this
 * client's operator, host and program) and why in the ledger's release
 * log.  *released says whether there was a hold. */
PAYNET_EXPORT paynet_status paynet_release(paynet_client *client, const char *user_gsm,
                             const char *reason, int *released, paynet_error *err);

/* The ledger this client uses, as given ("memory", "sqlite:...", a Redis
 * URL without its password). */
PAYNET_EXPORT const char *paynet_client_ledger(const paynet_client *client);

/* Every live hold (releases == 0) or the release log, newest first
 * (releases == 1), of the ledger named by spec (as paynet_config.ledger;
 * NULL: $PAYNET_LEDGER).  Needs no secret key; never creates a ledger.
 * name (PAYNET_SCOPE_SIZE bytes, or NULL) gets the ledger's name without
 * its password.  Free the list with free(). */
PAYNET_EXPORT paynet_status paynet_ledger_list(const char *spec, int releases, paynet_holder **list,
                                 size_t *count, char *name, paynet_error *err);

/* "sqlite:$XDG_STATE_HOME/paynet/ledger.db" (or ~/.local/state/...): the
 * command-line programs' default ledger.  Creates the folder (mode 700).
 * 0 when no home folder is known or it cannot be created (err says why). */
PAYNET_EXPORT int paynet_ledger_default(char *out, size_t size, paynet_error *err);

/* Whether a pending hold's call is over (its sender stopped before it
 * recorded an outcome): measured on the ledger's clock, never a desk's. */
PAYNET_EXPORT int paynet_holder_stale(const paynet_holder *holder);

/* One line about a holder: "sent 0:42 ago by ayse@desk-3 (session
 * order-42); valid 1:18 more". */
PAYNET_EXPORT void paynet_holder_describe(const paynet_holder *holder, char *out, size_t size);

/* ---- the reader's language (GNU gettext, domain "paynet") -------------------
 * Every message the core writes (errors, holders, warnings) is translated
 * when the calling program has set its locale (setlocale(LC_ALL, "") or
 * LC_MESSAGES); front ends translate their own text through the same
 * catalogue.  paynet_localedir: the folder it was found in. */
#define PAYNET_TEXT_DOMAIN "paynet"
#if defined(__GNUC__)
#define PAYNET_FORMAT_ARG(n) __attribute__((format_arg(n)))
#else
#define PAYNET_FORMAT_ARG(n)
#endif
PAYNET_EXPORT const char *paynet_gettext(const char *msgid) PAYNET_FORMAT_ARG(1);
PAYNET_EXPORT const char *paynet_ngettext(const char *singular, const char *plural, unsigned long n)
    PAYNET_FORMAT_ARG(1) PAYNET_FORMAT_ARG(2);
PAYNET_EXPORT const char *paynet_localedir(void);

#define PAYNET_SECRET_MAX 512

/* Reads the secret key from the first line of a file ("-": standard
 * input), blanks around it removed, refusing a file that group or others
 * may access (as ssh does with private keys) and anything but a regular
 * file (a FIFO is refused at once, never waited on). */
PAYNET_EXPORT paynet_status paynet_read_key_file(const char *path, char *out, size_t size,
                                   paynet_error *err);

/* The front ends' one way to the key: the file at path (as above) or,
 * when path is NULL, PAYNET_SECRET_KEY with the same rule, which is then
 * wiped and removed from the environment (no child inherits it). */
PAYNET_EXPORT paynet_status paynet_secret_load(const char *path, char *out, size_t size, paynet_error *err);

/* ---- text from outside, and masking ------------------------------------- */

/* Copies length bytes of text from outside (a server, a ledger) for a
 * person or a terminal: valid UTF-8 out (a broken byte becomes U+FFFD),
 * tab, CR and LF a space, other C0, DEL, C1, bidi embedding, override and
 * isolate characters and line/paragraph separators U+FFFD; cut at a
 * character boundary to fit size with its terminator.  Returns the bytes
 * written.  Every message the core hands a caller went through it. */
PAYNET_EXPORT size_t paynet_text_clean(const char *text, size_t length, char *out, size_t size);

/* "5321234567" -> "532*****67". */
PAYNET_EXPORT void paynet_mask_gsm(const char *gsm, char out[PAYNET_GSM_SIZE]);

/* Overwrites with '*' every run of text equal to 8 consecutive bytes of
 * secret (or all of it, when shorter). */
PAYNET_EXPORT void paynet_text_mask_secret(char *text, const char *secret);

/* ---- pure helpers -------------------------------------------------------- */

/* "+90 (532) 123 45 67" -> "5321234567"; "+90", "0090", "90" or "0" in
 * front.  A short number's message counts the digits it lacks after its
 * prefix ("needs 4 more digits"). */
PAYNET_EXPORT paynet_status paynet_gsm_normalize(const char *input,
                                   char out[PAYNET_GSM_SIZE],
                                   paynet_error *err);
/* Session id: 1..128 bytes of UTF-8 without control characters. */
PAYNET_EXPORT paynet_status paynet_session_id_check(const char *id, paynet_error *err);

/* Strict RFC 3339 date-time with 0..9 fraction digits -> UTC instant. */
PAYNET_EXPORT paynet_status paynet_expire_parse(const char *text, size_t length,
                                  paynet_instant *out, paynet_error *err);
/* Formats t at the given UTC offset with `digits` fraction digits (0..9);
 * returns the length written, or -1 if it does not fit. */
PAYNET_EXPORT int paynet_expire_format(paynet_instant t, int offset_minutes, int digits,
                         char *buf, size_t size);
PAYNET_EXPORT double paynet_instant_seconds(paynet_instant t);


PAYNET_EXPORT const char *paynet_code_name(int code);     /* NULL if not in the table */
PAYNET_EXPORT const char *paynet_code_meaning(int code);  /* NULL if not in the table */
PAYNET_EXPORT int paynet_code_from_name(const char *name); /* PAYNET_NO_CODE if unknown */
PAYNET_EXPORT size_t paynet_code_count(void);
PAYNET_EXPORT int paynet_code_at(size_t index);

PAYNET_EXPORT const char *paynet_status_name(paynet_status status); /* "network", ... */

/* The library's version at run time ("0.2.0"); PAYNET_VERSION is the
 * header's. */
PAYNET_EXPORT const char *paynet_version(void);
PAYNET_EXPORT const char *paynet_delivered_name(paynet_delivered delivered);


#endif
