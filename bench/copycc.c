/* copycc: a stand-in for a perfect compiler cache, for bench/floor.py.
 *
 * Run as `copycc gcc ... -c src/x.c -o obj/x.o` with COPYCC_FROM=DIR, it compiles nothing
 * and looks nothing up: it copies DIR/obj/x.o (and DIR/obj/x.d, when there is one) to
 * obj/x.o (obj/x.d) through a temporary file and a rename, as a cache restores outputs.
 * Its cost is what any cache that runs as one process per compile pays at the least:
 * a process start-up (static, linked as cachepot's release binary is) and the copy.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int copy(const char *from, const char *to, int must_exist) {
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        if (!must_exist) return 0;
        perror(from);
        return -1;
    }
    struct stat st;
    char tmp[4096];
    if (fstat(in, &st) != 0 || snprintf(tmp, sizeof tmp, "%s.copycc-tmp", to) >= (int)sizeof tmp) {
        close(in);
        return -1;
    }
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        perror(tmp);
        close(in);
        return -1;
    }
    off_t left = st.st_size;
    while (left > 0) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
        if (n <= 0) {
            perror("copy_file_range");
            return -1;
        }
        left -= n;
    }
    close(in);
    if (close(out) != 0 || rename(tmp, to) != 0) {
        perror(to);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *from_dir = getenv("COPYCC_FROM");
    const char *obj = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "-o") == 0) obj = argv[i + 1];
    if (!from_dir || !obj) {
        fprintf(stderr, "copycc: needs COPYCC_FROM and -o\n");
        return 2;
    }
    char from[4096], dep[4096], from_dep[4096];
    const char *dot = strrchr(obj, '.');
    size_t stem = dot ? (size_t)(dot - obj) : strlen(obj);
    if (snprintf(from, sizeof from, "%s/%s", from_dir, obj) >= (int)sizeof from ||
        snprintf(dep, sizeof dep, "%.*s.d", (int)stem, obj) >= (int)sizeof dep ||
        snprintf(from_dep, sizeof from_dep, "%s/%s", from_dir, dep) >= (int)sizeof from_dep) {
        fprintf(stderr, "copycc: path too long\n");
        return 2;
    }
    if (copy(from, obj, 1) != 0 || copy(from_dep, dep, 0) != 0) return 1;
    return 0;
}
