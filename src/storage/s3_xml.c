/* The few XML elements S3 answers carry (s3.intern.h): S3 answers are small and flat. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/util.h"
#include "s3.intern.h"

static void xml_decode_into(const char *p, size_t n, char *out)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (p[i] == '&') {
            bool done = false;
            for (size_t e = 0; e < sizeof(ents) / sizeof(ents[0]) && !done; e++) {
                size_t el = strlen(ents[e].ent);
                if (i + el <= n && memcmp(p + i, ents[e].ent, el) == 0) {
                    out[o++] = ents[e].c;
                    i += el;
                    done = true;
                }
            }
            if (!done && i + 3 < n && p[i + 1] == '#') {
                char *end = NULL;
                bool hex = p[i + 2] == 'x' || p[i + 2] == 'X';
                unsigned long cp = strtoul(p + i + (hex ? 3 : 2), &end, hex ? 16 : 10);
                if (end != NULL && end < p + n && *end == ';' && cp > 0 && cp < 0x110000) {
                    /* UTF-8 encode the code point. */
                    if (cp < 0x80) {
                        out[o++] = (char)cp;
                    } else if (cp < 0x800) {
                        out[o++] = (char)(0xc0 | (cp >> 6));
                        out[o++] = (char)(0x80 | (cp & 0x3f));
                    } else if (cp < 0x10000) {
                        out[o++] = (char)(0xe0 | (cp >> 12));
                        out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                        out[o++] = (char)(0x80 | (cp & 0x3f));
                    } else {
                        out[o++] = (char)(0xf0 | (cp >> 18));
                        out[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                        out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                        out[o++] = (char)(0x80 | (cp & 0x3f));
                    }
                    i = (size_t)(end - p) + 1;
                    done = true;
                }
            }
            if (done)
                continue;
        }
        out[o++] = p[i++];
    }
    out[o] = '\0';
}

/* The decoded text of the first <tag>…</tag> in [p, end), or NULL. *next (if given) points
 * after the closing tag. An element with attributes or a self-closing one is found too. */
char *s3_xml_get(const char *p, const char *end, const char *tag, const char **next)
{
    size_t tl = strlen(tag);
    for (const char *q = p; q != NULL && q < end;) {
        q = memchr(q, '<', (size_t)(end - q));
        if (q == NULL || q + tl + 2 > end)
            return NULL;
        if (memcmp(q + 1, tag, tl) == 0 &&
            (q[tl + 1] == '>' || q[tl + 1] == ' ' || q[tl + 1] == '/')) {
            const char *gt = memchr(q, '>', (size_t)(end - q));
            if (gt == NULL)
                return NULL;
            if (gt[-1] == '/') {
                if (next != NULL)
                    *next = gt + 1;
                return x_strdup("");
            }
            const char *body = gt + 1;
            for (const char *c = body; c < end;) {
                c = memchr(c, '<', (size_t)(end - c));
                if (c == NULL || c + tl + 3 > end)
                    return NULL;
                if (c[1] == '/' && memcmp(c + 2, tag, tl) == 0 && c[tl + 2] == '>') {
                    char *out = x_malloc((size_t)(c - body) + 1);
                    xml_decode_into(body, (size_t)(c - body), out);
                    if (next != NULL)
                        *next = c + tl + 3;
                    return out;
                }
                c++;
            }
            return NULL;
        }
        q++;
    }
    return NULL;
}

/* The bounds of the next <tag>…</tag> block at or after p. */
bool s3_xml_block(const char *p, const char *end, const char *tag, const char **from,
                  const char **to)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = memmem(p, (size_t)(end - p), open, strlen(open));
    if (a == NULL)
        return false;
    a += strlen(open);
    const char *b = memmem(a, (size_t)(end - a), close, strlen(close));
    if (b == NULL)
        return false;
    *from = a;
    *to = b;
    return true;
}

void s3_xml_escape(char **buf, size_t *len, size_t *cap, const char *s)
{
    for (; *s; s++) {
        const char *rep = NULL;
        char one[2] = {*s, 0};
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        default:
            rep = one;
            break;
        }
        buf_append(buf, len, cap, rep, strlen(rep));
    }
}

void s3_buf_append(char **buf, size_t *len, size_t *cap, const char *s)
{
    buf_append(buf, len, cap, s, strlen(s));
}
