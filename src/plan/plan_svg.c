/*
 * The plan as an SVG chart: one point per codec level, time across, total cost up,
 * the recommendation ringed; a legend names each point (points often sit on top of
 * each other, so labels beside them would collide).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ferry/plan.h"

#define W 940
#define H 440
#define L 90  /* left margin */
#define R 260 /* right margin: the legend */
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
	/* the points, the recommendation last so that its ring is on top */
	static const char *const colors[] = { "#7f7f7f", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b" };
	for (unsigned k = 0; k <= r->nopt; k++) {
		unsigned i = k < r->nopt ? k : (unsigned)r->recommended;
		const struct ferry_plan_option *o = &r->opt[i];
		int rec = (int)i == r->recommended;
		double x, y;

		if ((k < r->nopt && rec) || !isfinite(o->seconds))
			continue;
		x = L + pw * (o->seconds / tscale) / thi;
		y = H - B - ph * o->total_usd / chi;
		fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"%s\" fill-opacity=\"0.85\"/>\n", x, y,
			colors[i % 6]);
		if (rec)
			fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"12\" fill=\"none\" stroke=\"#d62728\" "
				   "stroke-width=\"2.5\"/>\n", x, y);
	}
	/* the legend: every option with its time and cost */
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">codec: time, total</text>\n", W - R + 24, T + 12);
	for (unsigned i = 0; i < r->nopt; i++) {
		const struct ferry_plan_option *o = &r->opt[i];
		char name[32], t[32];
		int y = T + 36 + 22 * (int)i, rec = (int)i == r->recommended;

		level_name(o->level, name, sizeof(name));
		ferry_plan_fmt_duration(o->seconds, t, sizeof(t));
		fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"6\" fill=\"%s\"/>\n", W - R + 30, y - 4, colors[i % 6]);
		if (rec)
			fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"10\" fill=\"none\" stroke=\"#d62728\" "
				   "stroke-width=\"2\"/>\n", W - R + 30, y - 4);
		fprintf(f, "<text x=\"%d\" y=\"%d\"%s>%s: %s, $%.*f</text>\n", W - R + 46, y,
			rec ? " font-weight=\"bold\"" : "", name, t, o->total_usd < 1 ? 4 : 2, o->total_usd);
	}
	if (r->recommended >= 0 && r->why) {
		fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#d62728\">recommended: ", W - R + 24,
			T + 36 + 22 * (int)r->nopt + 10);
		xml_text(f, r->why);
		fprintf(f, "</text>\n");
	}
	fprintf(f, "</svg>\n");
	if (fclose(f)) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return FERRY_E_IO;
	}
	return FERRY_OK;
}
