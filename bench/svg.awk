# Horizontal bar chart of the benchmark ratios, as SVG, with plain awk.
# Input: tab-separated lines "label<TAB>ratio<TAB>target" (target may be
# empty: no target, drawn grey).  A bar is green when ratio >= target, red
# otherwise; the target is a dashed black tick across the bar's row.
# Usage: awk -F '\t' -v title='...' -f svg.awk ratios.tsv > ratios.svg
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
{
  n++; label[n] = $1; ratio[n] = $2 + 0; target[n] = $3
  if (ratio[n] > max) max = ratio[n]
  if (target[n] != "" && target[n] + 0 > max) max = target[n] + 0
}
END {
  left = 360; width = 380; row = 34; top = 46
  if (max <= 0) max = 1
  max = max * 1.15
  h = top + n * row + 40
  printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"13\">\n", left + width + 70, h
  printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
  printf "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">%s</text>\n", esc(title)
  # x axis: 1.0x reference line and ticks
  for (t = 0; t <= max; t += (max > 6 ? 1 : 0.5)) {
    x = left + t / max * width
    printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x, top - 6, x, top + n * row
    printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\" font-size=\"11\">%gx</text>\n", x, top + n * row + 16, t
  }
  x1 = left + 1 / max * width
  printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#888\"/>\n", x1, top - 6, x1, top + n * row
  for (i = 1; i <= n; i++) {
    y = top + (i - 1) * row
    bw = ratio[i] / max * width
    color = "#9e9e9e"
    if (target[i] != "") color = (ratio[i] >= target[i] + 0) ? "#2e7d32" : "#c62828"
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left - 8, y + 18, esc(label[i])
    printf "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"22\" fill=\"%s\"/>\n", left, y + 4, bw, color
    printf "<text x=\"%.1f\" y=\"%d\" font-size=\"12\">%.2fx</text>\n", left + bw + 4, y + 19, ratio[i]
    if (target[i] != "") {
      tx = left + target[i] / max * width
      printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\" stroke-width=\"2\" stroke-dasharray=\"4,2\"/>\n", tx, y, tx, y + 30
    }
  }
  printf "<text x=\"10\" y=\"%d\" font-size=\"11\" fill=\"#555\">green: target met; red: missed; grey: no target; dashed tick: target</text>\n", h - 6
  print "</svg>"
}
