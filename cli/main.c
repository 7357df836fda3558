/* main.c: `psync`, the operator's command. Dispatches to one subcommand per
 * file (inspect.c, predict.c, status.c, keygen.c) through a table. */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "commands.h"

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command;

static const cli_command cli_commands[] = {
    {"inspect", psync_cmd_inspect, "print or verify a model blob (--json for machine output)"},
    {"predict", psync_cmd_predict, "serve predictions from a model blob"},
    {"status", psync_cmd_status, "show a psyncd cluster's members and versions"},
    {"keygen", psync_cmd_keygen, "create a CURVE key pair for a daemon or worker"},
};
#define CLI_NCOMMANDS (sizeof cli_commands / sizeof cli_commands[0])

static void cli_usage(FILE *out)
{
    fprintf(out, "usage: psync COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < CLI_NCOMMANDS; i++)
        fprintf(out, "  %-8s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(out, "\n`psync COMMAND --help` describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli_usage(stderr);
        return EX_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        cli_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("psync %s\n", PSYNC_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < CLI_NCOMMANDS; i++) {
        if (strcmp(argv[1], cli_commands[i].name)) continue;
        if (!cli_commands[i].run) {
            fprintf(stderr, "psync: '%s' is not built into this binary\n", argv[1]);
            return EX_UNAVAILABLE;
        }
        return cli_commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "psync: unknown command '%s'; run `psync --help`\n", argv[1]);
    return EX_USAGE;
}
