/* commands.h: the subcommands of `psync`. Each takes the arguments after its
 * name (argv[0] is the command name) and returns a sysexits.h code. A command
 * whose file is not linked into this build is reported as unavailable. */
#ifndef PSYNC_CLI_COMMANDS_H
#define PSYNC_CLI_COMMANDS_H

int psync_cmd_inspect(int argc, char **argv) __attribute__((weak));
int psync_cmd_predict(int argc, char **argv) __attribute__((weak));
int psync_cmd_status(int argc, char **argv) __attribute__((weak));
int psync_cmd_keygen(int argc, char **argv) __attribute__((weak));

#endif
