/*
 * paynet-tui — the support-desk operator screen: type a phone number and
 * a session id, press Enter, watch the countdown to otp_expire.
 *
 * main.c holds the options and the one event
 * loop: it waits on the keyboard, the core's sockets and the next visible
 * change of the clock together (paynet_call_wait), turns keys into actions
 * (keys.c), feeds actions and the core's outcomes to the state machine
 * (app.c), and redraws (view.c) only when the state machine says so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* A sanitizer build (make check-asan): its leak check at exit must be able
 * to ptrace the process, so it stays dumpable there. */
#if defined(__SANITIZE_ADDRESS__)
#define PAYNET_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PAYNET_SANITIZED 1
#endif
#endif
#ifndef PAYNET_SANITIZED
#define PAYNET_SANITIZED 0
#endif

#include "app.h"
#include "audit.h"
#include "keys.h"
#include "paynet.h"
#include "plain.h"
#include "session.h"
#include "view.h"



static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int signal_number) { stop_signal = signal_number; }



/* ---- options ------------------------------------------------------------- */

static void usage(FILE *out)
{
    fputs(_("Usage: paynet-tui [OPTION]...\n"
            "The support-desk screen for sending Paynet card-save OTPs: type the\n"
            "customer's phone number and a session id, press Enter, and watch the\n"
            "countdown to otp_expire. A number cannot be sent again before then.\n"
            "\n"
            "  --env test|live          Paynet system to use (default test, or PAYNET_ENV);\n"
            "                           live sends real SMS and is shown as LIVE\n"
            "  --base-url URL           send to URL instead (e.g. a paynet-sandbox; or\n"
            "                           PAYNET_BASE_URL)\n"
            "  --proxy URL              send through this proxy; \"\" for none (default:\n"
            "                           the https_proxy, all_proxy, no_proxy variables)\n"
            "  --secret-key-file FILE   read the secret key from FILE, which must not be\n"
            "                           readable by group or others (chmod 600 FILE);\n"
            "                           otherwise it comes from PAYNET_SECRET_KEY\n"
            "  --audit-log FILE         append one JSON line per send to FILE\n"
            "  --timeout SECONDS        give up on a send after SECONDS (default 15)\n"
            "  --cainfo FILE            trust the CA certificates in FILE\n"
            "  --ledger SPEC            the ledger of sent codes that every sender consults\n"
            "                           first: sqlite:PATH (this machine), redis://[:PW@]HOST\n"
            "                           [:PORT][/DB] or redis+unix:///PATH (many desks);\n"
            "                           default PAYNET_LEDGER, else\n"
            "                           sqlite:$XDG_STATE_HOME/paynet/ledger.db\n"
            "  --no-color               attributes only, no colours (also NO_COLOR)\n"
            "  --plain                  plain lines instead of the screen, for screen\n"
            "                           readers and pipes: the same questions and\n"
            "                           outcomes; ? tells the time left, q quits\n"
            "  --help                   show this help and exit\n"
            "  --version                show the version and exit\n"
            "\n"
            "Keys: Tab/Shift-Tab move between fields, Enter sends, F2 (Esc 2, Ctrl-N)\n"
            "makes a fresh session id, Esc cancels a send in flight, F1 (Esc 1,\n"
            "Ctrl-G) shows help, Ctrl-L redraws, F10 (Esc 0, Ctrl-X) or Ctrl-C quits.\n"),
          out);
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"env", required_argument, NULL, 'e'},
        {"base-url", required_argument, NULL, 'b'},
        {"secret-key-file", required_argument, NULL, 'k'},
        {"audit-log", required_argument, NULL, 'a'},
        {"timeout", required_argument, NULL, 't'},
        {"cainfo", required_argument, NULL, 'c'},
        {"ledger", required_argument, NULL, 'l'},
        {"no-color", no_argument, NULL, 'n'},
        {"plain", no_argument, NULL, 'p'},
        {"proxy", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'e':
            if (strcmp(optarg, "test") != 0 && strcmp(optarg, "live") != 0) {
                fprintf(stderr, _("paynet-tui: --env must be test or live\n"));
                return 2;
            }
            o->env = optarg;
            break;
        case 'b':
            o->base_url = optarg;
            break;
        case 'k':
            if (strcmp(optarg, "-") == 0) { /* standard input is the keyboard here */
                fprintf(stderr, _("paynet-tui: --secret-key-file needs a file: standard input "
                                "is the operator's keyboard\n"));
                return 2;
            }
            o->secret_key_file = optarg;
            break;
        case 'a':
            o->audit_log = optarg;
            break;
        case 't':
            o->timeout = strtod(optarg, &end);
            if (end == optarg || *end != '\0') { /* the range is the core's to check */
                fprintf(stderr, _("paynet-tui: --timeout must be a number of seconds\n"));
                return 2;
            }
            break;
        case 'c':
            o->cainfo = optarg;
            break;
        case 'l':
            o->ledger = optarg;
            break;
        case 'n':
            o->no_color = 1;
            break;
        case 'p':
            o->plain = 1;
            break;
        case 'x':
            o->proxy = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("paynet-tui %s\n", PAYNET_VERSION);
            return 0;
        default:
            fprintf(stderr, _("Try 'paynet-tui --help'.\n"));
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, _("paynet-tui: unexpected argument '%s'\nTry 'paynet-tui --help'.\n"),
                argv[optind]);
        return 2;
    }
    return -1;
}

/* ---- the loop ------------------------------------------------------------ */


/* Carries out what the state machine asked for. */
static unsigned effects(struct session *s, unsigned flags, int *quit)
{
    paynet_error err;
    unsigned more = 0;
    if (flags & APP_FOCUS)
        view_focus(s->view, s->app.focus);
    if (flags & APP_CLEAR)
        view_clear(s->view);
    if (flags & APP_NEW_ID) {
        char id[32];
        session_fresh_id(id, sizeof id);
        more |= app_set_session(&s->app, id);
        view_set_field(s->view, FOCUS_SESSION, id);
    }
    if (flags & APP_START_SEND) {
        if (paynet_send_start(s->client, s->app.gsm, s->app.session_input, &s->call, &err)
            == PAYNET_OK)
            more |= app_send_started(&s->app, session_now());
        else
            more |= app_send_refused(&s->app, &err);
    }
    if (flags & APP_CANCEL_SEND) {
        paynet_call_cancel(s->call, &err);
        more |= session_finish(s, PAYNET_CANCELLED, NULL, &err);
    }
    if (flags & APP_QUIT)
        *quit = 1;
    return flags | more;
}

static unsigned handle_key(struct session *s, int is_function, unsigned key, int *quit)
{
    char text[APP_SESSION_MAX * 4 + 1];
    enum app_action action = keys_action(&s->keys, is_function, key, session_now());
    /* a terminal too small to show the fields: only quit, resize, redraw */
    if (!view_usable(s->view) && action != ACTION_QUIT && action != ACTION_RESIZE &&
        action != ACTION_REDRAW)
        return 0;
    if (action == ACTION_EDIT) {
        if (s->app.help || !view_edit(s->view, is_function, key))
            return 0; /* help covers the fields: typing does not reach them */
        view_field_text(s->view, s->app.focus, text, sizeof text);
        return app_set_input(&s->app, s->app.focus, text);
    }
    unsigned flags = app_apply(&s->app, action, session_now());
    if (action == ACTION_CANCEL && flags != 0)
        s->keys.esc_at = 0; /* this Esc did its job: a digit after it is typed */
    return effects(s, flags, quit);
}


static void run(struct session *s)
{
    unsigned flags = APP_REDRAW;
    int quit = 0;
    paynet_error err;
    paynet_result res;
    while (!quit) {
        double now = session_now();
        flags |= app_tick(&s->app, now, session_hold(s, &flags));
        if (flags & APP_REDRAW)
            view_draw(s->view, &s->app);
        flags = 0;

        int wake = app_next_wake_ms(&s->app, session_now());
        int key_ready = 0;
        /* at most a second: a signal that came outside the wait is seen */
        paynet_call_wait(s->call, STDIN_FILENO, wake < 0 || wake > 1000 ? 1000 : wake, &key_ready,
                    &err);
        if (stop_signal) {
            /* SIGTERM, SIGINT: someone asked for an orderly stop; SIGHUP:
             * the terminal is gone, which the operator did not choose */
            if (stop_signal == SIGHUP)
                s->gone = _("the terminal hung up (SIGHUP)");
            flags |= effects(s, app_apply(&s->app, ACTION_QUIT, session_now()), &quit);
        }

        /* a bounded batch: endless input cannot starve the send, the
         * clock or a signal */
        int is_function, keys = 0;
        unsigned key;
        while (!quit && !stop_signal && keys < 256 && view_read_key(s->view, &is_function, &key)) {
            flags |= handle_key(s, is_function, key, &quit);
            keys++;
        }
        if (!quit && keys == 0 && (s->gone = view_input_gone(s->view)) != NULL)
            flags |= effects(s, app_apply(&s->app, ACTION_QUIT, session_now()), &quit);

        if (!quit && paynet_call_pending(s->call)) {
            paynet_status status = paynet_call_step(s->call, &res, &err);
            if (status != PAYNET_PENDING)
                flags |= session_finish(s, status, &res, &err);
        }
    }
}

int main(int argc, char **argv)
{
    struct session s;
    memset(&s, 0, sizeof s);
    s.opt.env = "test";
    s.opt.timeout = 15;
    s.audit_fd = -1;
    paynet_error err;
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C"); /* numbers keep "." (--timeout 1.5) */
    /* standard input, output and error are open, so that no descriptor the
     * program opens (a socket of libcurl's) takes their number */
    int closed_out = 0;
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int null = open("/dev/null", O_RDWR);
            if (null >= 0 && null != fd)
                close(null); /* not the lowest: leave it */
            if (fd == STDOUT_FILENO)
                closed_out = 1;
        }
    }
    /* PAYNET_ENV and PAYNET_BASE_URL stand in for --env and --base-url */
    const char *env_var = getenv("PAYNET_ENV"), *url_var = getenv("PAYNET_BASE_URL");
    if (env_var != NULL && env_var[0] != '\0')
        s.opt.env = env_var;
    if (url_var != NULL && url_var[0] != '\0')
        s.opt.base_url = url_var;
    int rc = parse_options(argc, argv, &s.opt);
    if (rc < 0 && strcmp(s.opt.env, "test") != 0 && strcmp(s.opt.env, "live") != 0) {
        fprintf(stderr, _("paynet-tui: --env must be test or live\n"));
        return 2;
    }
    if (rc >= 0)
        return rc;
    if (closed_out) {
        fprintf(stderr, _("paynet-tui: standard output is closed\n"));
        return 2;
    }

    const char *no_color = getenv("NO_COLOR");
    if (no_color != NULL && no_color[0] != '\0')
        s.opt.no_color = 1;

    /* nothing of the key in a core dump of the screen */
#if !PAYNET_SANITIZED /* LeakSanitizer ptraces the process at exit */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
    char secret[PAYNET_SECRET_MAX + 2];
    if (paynet_secret_load(s.opt.secret_key_file, secret, sizeof secret, &err) != PAYNET_OK) {
        fprintf(stderr, "paynet-tui: %s\n", err.message);
        return 2;
    }

    paynet_config config;
    paynet_config_init(&config);
    config.secret_key = secret;
    config.env = s.opt.env;
    config.base_url = s.opt.base_url;
    config.timeout = s.opt.timeout;
    config.cainfo = s.opt.cainfo;
    config.proxy = s.opt.proxy;
    config.program = "paynet-tui";
    /* --ledger, else PAYNET_LEDGER (the core reads it), else this user's file */
    char default_ledger[4200];
    const char *from_env = getenv("PAYNET_LEDGER");
    config.ledger = s.opt.ledger;
    if (config.ledger == NULL && (from_env == NULL || from_env[0] == '\0')) {
        if (!paynet_ledger_default(default_ledger, sizeof default_ledger, &err)) {
            fprintf(stderr, "paynet-tui: %s\n", err.message);
            return 2;
        }
        config.ledger = default_ledger;
    }
    if (paynet_client_new(&config, &s.client, &err) != PAYNET_OK) {
        fprintf(stderr, "paynet-tui: %s\n", err.message);
        return 2;
    }
    explicit_bzero(secret, sizeof secret);

    if (s.opt.audit_log != NULL) {
        s.audit_fd = open(s.opt.audit_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (s.audit_fd < 0) {
            fprintf(stderr, _("paynet-tui: cannot open the audit log %s: %s\n"), s.opt.audit_log,
                    strerror(errno));
            paynet_client_free(s.client);
            return 1;
        }
    }

    /* installed before curses, which then leaves them alone */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    app_init(&s.app, s.opt.env, paynet_client_url(s.client));
    char ledger_line[PAYNET_SCOPE_SIZE + 64];
    snprintf(ledger_line, sizeof ledger_line, _("Ledger: %s (every send is recorded there first)."),
             paynet_client_ledger(s.client));
    char first[sizeof s.app.status];
    snprintf(first, sizeof first, "%s", s.app.status);
    app_set_status(&s.app, TONE_INFO, first, ledger_line);
    if (s.opt.plain) {
        rc = plain_run(&s, &stop_signal);
        paynet_client_free(s.client);
        if (s.audit_fd >= 0)
            close(s.audit_fd);
        if (s.gone != NULL)
            fprintf(stderr, _("paynet-tui: stopped: %s\n"), s.gone);
        return rc;
    }
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, _("paynet-tui: standard input is not a terminal: use --plain to read "
                          "the answers from a pipe or a file\n"));
        paynet_client_free(s.client);
        return 2;
    }
    s.view = view_open(s.opt.no_color);
    if (s.view == NULL) {
        paynet_client_free(s.client);
        return 1;
    }
    run(&s);
    view_close(s.view);
    paynet_client_free(s.client);
    if (s.audit_fd >= 0)
        close(s.audit_fd);
    if (s.gone != NULL) { /* not the operator's choice: say so, and fail */
        fprintf(stderr, _("paynet-tui: stopped: %s\n"), s.gone);
        return stop_signal == SIGHUP ? 128 + SIGHUP : 1;
    }
    return 0;
}
