"""The figures' reports: each reads a figure's finished runs and writes its
table (`<figure>.md`) and plot (`<figure>.png`), and returns `(png, rows)`.

Modules, by what the figures show: `depth` (accuracy and training time
against depth, Figs. 2-4 and 6), `filters` (Figs. 5 and 7), `fgsm` (Figs. 8
and 9), `unshuffling` (Figs. 10-13), and `common` (reading runs, writing the
files: what every report shares).
"""
