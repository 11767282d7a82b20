/* wl_strings — string processing: builds a text of pseudo-words, splits it
 * into words, counts word lengths and vowels, upper-cases, reverses each
 * word, and compares neighbours (strcmp). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    size_t nwords = argc > 1 ? strtoul(argv[1], NULL, 0) : 8000;
    size_t cap = nwords * 12 + 1;
    char *text = malloc(cap);
    if (!text) return 1;
    unsigned s = 7;
    size_t len = 0;
    for (size_t w = 0; w < nwords; w++) {
        s = s * 1103515245u + 12345u;
        int wl = 2 + (int)((s >> 16) % 9);
        for (int i = 0; i < wl; i++) {
            s = s * 1103515245u + 12345u;
            text[len++] = (char)('a' + (s >> 16) % 26);
        }
        text[len++] = ' ';
    }
    text[len] = 0;
    size_t vowels = 0, words = 0, longest = 0, ordered = 0;
    char prev[16] = "";
    for (char *save = NULL, *tok = strtok_r(text, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        size_t wl = strlen(tok);
        words++;
        if (wl > longest) longest = wl;
        for (size_t i = 0; i < wl; i++) {
            if (strchr("aeiou", tok[i])) vowels++;
            tok[i] = (char)toupper((unsigned char)tok[i]);
        }
        for (size_t i = 0, j = wl - 1; i < j; i++, j--) { char t = tok[i]; tok[i] = tok[j]; tok[j] = t; }
        if (strcmp(prev, tok) < 0) ordered++;
        snprintf(prev, sizeof prev, "%s", tok);
    }
    printf("wl_strings: words=%zu vowels=%zu longest=%zu ordered=%zu\n", words, vowels, longest, ordered);
    free(text);
    return 0;
}
