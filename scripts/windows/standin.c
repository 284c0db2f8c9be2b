/*
 * Test support only, never shipped: a Windows stand-in for pg_dump.exe and
 * psql.exe, for the Windows checks under Wine (Wine starts Linux programs
 * but cannot wait for them, so the real pg_dump cannot be Nightjar's child
 * there). Built twice by scripts/check-windows.sh; it acts as the program
 * its file is named after.
 *
 *   pg_dump --version        prints a PostgreSQL 16.4 version line
 *   pg_dump ...              writes a small plain-format dump to stdout;
 *                            STANDIN_ROWS rows (default 1000). With
 *                            STANDIN_HANG=<file> it writes the start of the
 *                            dump, creates <file> and then waits forever,
 *                            like a dump stuck on a lock, to be cancelled.
 *                            PGPASSWORD must equal STANDIN_PASSWORD when
 *                            that is set (the password must reach the tool
 *                            through its environment), else it fails like
 *                            pg_dump does.
 *   psql --version / psql .. the version line / the server version query
 */
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

static int is_tool(const char *argv0, const char *name)
{
    const char *base = argv0, *p;
    for (p = argv0; *p; p++)
        if (*p == '\\' || *p == '/')
            base = p + 1;
    return _strnicmp(base, name, strlen(name)) == 0;
}

int main(int argc, char **argv)
{
    int psql = is_tool(argv[0], "psql");
    int i, rows;
    const char *want = getenv("STANDIN_PASSWORD"), *got = getenv("PGPASSWORD"), *hang = getenv("STANDIN_HANG");

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("%s (PostgreSQL) 16.4\n", psql ? "psql" : "pg_dump");
            return 0;
        }
    }
    if (want && (!got || strcmp(want, got) != 0)) {
        fprintf(stderr, "%s: error: connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password authentication failed for user \"nightjar\"\n",
                psql ? "psql" : "pg_dump");
        return 1;
    }
    if (psql) {
        printf("160004 16.4\n");
        return 0;
    }
    rows = getenv("STANDIN_ROWS") ? atoi(getenv("STANDIN_ROWS")) : 1000;
    _setmode(_fileno(stdout), _O_BINARY);
    printf("--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 16.4\n-- Dumped by pg_dump version 16.4\n\n");
    printf("SET statement_timeout = 0;\nSET client_encoding = 'UTF8';\n\n");
    printf("CREATE TABLE public.standin (id integer, note text);\n\nCOPY public.standin (id, note) FROM stdin;\n");
    if (hang) {
        FILE *f;
        for (i = 0; i < 100; i++)
            printf("%d\tstarted row %d\n", i, i);
        fflush(stdout);
        f = fopen(hang, "w");
        if (f)
            fclose(f);
        for (;;)
            Sleep(1000);
    }
    for (i = 0; i < rows; i++)
        printf("%d\trow %d of the stand-in dump\n", i, i);
    printf("\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n");
    return 0;
}
