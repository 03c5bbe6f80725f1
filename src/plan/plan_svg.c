/* The plan as an SVG chart: one point per codec level, time across, total cost up, the recommendation ringed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ferry/plan.h"

#define W 720
#define H 440
#define L 90  /* left margin */
#define R 30
#define T 50
#define B 60

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\t')
				fputc(*s, f);
		}
	}
}

/* A round step for about five ticks over [0, hi]. */
static double tick_step(double hi)
{
	double raw = hi / 5, mag = pow(10, floor(log10(raw))), n = raw / mag;
	return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

static void level_name(int level, char *out, size_t len)
{
	if (level == 0)
		snprintf(out, len, "none");
	else
		snprintf(out, len, "zstd %d", level);
}

int ferry_plan_svg(const struct ferry_plan_result *r, const char *title, const char *path, char *msg, size_t msglen)
{
	FILE *f = fopen(path, "w");
	double tmax = 0, cmax = 0, tscale = 1;
	const char *tunit = "seconds";

	if (!f) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return FERRY_E_IO;
	}
	for (unsigned i = 0; i < r->nopt; i++) {
		if (isfinite(r->opt[i].seconds))
			tmax = fmax(tmax, r->opt[i].seconds);
		cmax = fmax(cmax, r->opt[i].total_usd);
	}
	if (tmax >= 2 * 86400) {
		tscale = 86400;
		tunit = "days";
	} else if (tmax >= 2 * 3600) {
		tscale = 3600;
		tunit = "hours";
	} else if (tmax >= 120) {
		tscale = 60;
		tunit = "minutes";
	}
	tmax /= tscale;
	double tstep = tick_step(tmax > 0 ? tmax * 1.1 : 1), cstep = tick_step(cmax > 0 ? cmax * 1.1 : 1);
	double thi = ceil((tmax > 0 ? tmax * 1.1 : 1) / tstep) * tstep, chi = ceil((cmax > 0 ? cmax * 1.1 : 1) / cstep) * cstep;
	double pw = W - L - R, ph = H - T - B;

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		   "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
	fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
	fprintf(f, "<text x=\"%d\" y=\"28\" font-size=\"15\" font-weight=\"bold\">", L);
	xml_text(f, title);
	fprintf(f, "</text>\n");
	/* grid and ticks */
	for (double v = 0; v <= thi + tstep / 2; v += tstep) {
		double x = L + pw * v / thi;
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x, T, x, H - B);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x, H - B + 16, v);
	}
	for (double v = 0; v <= chi + cstep / 2; v += cstep) {
		double y = H - B - ph * v / chi;
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, y, W - R, y);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">$%g</text>\n", L - 6, y + 4, v);
	}
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#333\"/>\n", L, T, pw,
		ph);
	fprintf(f, "<text x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">estimated time (%s)</text>\n", L + pw / 2, H - 18,
		tunit);
	fprintf(f, "<text x=\"22\" y=\"%.0f\" text-anchor=\"middle\" transform=\"rotate(-90 22 %.0f)\">total cost "
		   "(USD)</text>\n", T + ph / 2, T + ph / 2);
	/* the points */
	for (unsigned i = 0; i < r->nopt; i++) {
		const struct ferry_plan_option *o = &r->opt[i];
		char name[32];
		double x, y;
		int rec = (int)i == r->recommended;

		if (!isfinite(o->seconds))
			continue;
		x = L + pw * (o->seconds / tscale) / thi;
		y = H - B - ph * o->total_usd / chi;
		level_name(o->level, name, sizeof(name));
		fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/>\n", x, y, rec ? "#d62728" : "#1f77b4");
		if (rec)
			fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"11\" fill=\"none\" stroke=\"#d62728\" "
				   "stroke-width=\"2\"/>\n", x, y);
		/* alternate label sides so that neighbouring points stay readable */
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\"%s>%s%s</text>\n", x + (i % 2 ? -14 : 14), y + (i % 2 ? 16 : -8),
			i % 2 ? " text-anchor=\"end\"" : "", name, rec ? " (recommended)" : "");
	}
	fprintf(f, "</svg>\n");
	if (fclose(f)) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return FERRY_E_IO;
	}
	return FERRY_OK;
}
