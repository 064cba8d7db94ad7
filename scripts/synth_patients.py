#!/usr/bin/env python3
"""Synthetic patients for two sites, with a known overlap.

Writes three files into --out:

  site-a.csv, site-b.csv   the patients of each site, in the column layout of
                           examples/sample-patients.csv plus an `id` column
                           (what `sel-node registry import` reads);
  truth.csv                id_a,id_b: the patients present at both sites.

The K overlapping patients appear at both sites; one of the two copies carries
the kind of noise real registries have: typos, transliterated umlauts,
swapped first and last names, a missing birth name, a move (new postcode and
city), a mistyped birth date. Every other patient is a distinct person: no two
people share a first and last name (or, when more people are asked for than
the name lists allow, first name, last name and birth date).

Deterministic: the same arguments and --seed give byte-identical files.
Python 3 standard library only. The name lists are written for this script.

  python3 scripts/synth_patients.py --a 3000 --b 3000 --overlap 1000 --seed 7 --out data/
"""

import argparse
import csv
import os
import random
import sys

FEMALE = """
Anna Maria Ursula Monika Petra Elisabeth Sabine Renate Helga Karin Brigitte
Ingrid Erika Andrea Gisela Claudia Susanne Gabriele Christa Christine Hildegard
Birgit Heike Martina Nicole Marianne Stefanie Angelika Doris Ute Sandra Katrin
Barbara Jutta Elke Inge Waltraud Gertrud Edith Regina Silke Anja Tanja Julia
Manuela Daniela Kerstin Melanie Simone Christiane Ilse Irmgard Rosemarie Margot
Heidi Sonja Bettina Cornelia Annette Dagmar Franziska Sarah Lena Laura Lea
Hannah Johanna Sophie Marie Emma Mia Clara Greta Lina Paula Luisa Frieda Ida
Mathilde Charlotte Amelie Nele Pia Jana Vanessa Jessica Jennifer Katharina
Christina Carina Nadine Yvonne Denise Stephanie Verena Theresa Veronika Hedwig
Magdalena Agnes Lieselotte Elfriede Hannelore Irene Anneliese Luise Marlene
Antje Britta Dorothea Friederike Henriette Isabell Jasmin Kira Leonie Merle
Nina Rebecca Svenja Wiebke Annika Miriam Anke Gudrun Hanne Elsbeth Roswitha
""".split()

MALE = """
Peter Michael Thomas Andreas Wolfgang Klaus Jürgen Hans Werner Stefan Uwe
Christian Frank Bernd Günter Horst Dieter Manfred Helmut Ralf Walter Gerhard
Heinz Joachim Rolf Markus Karl Matthias Martin Jörg Sven Dirk Kurt Herbert
Alexander Torsten Tobias Sebastian Florian Daniel Jan Jens Lars Oliver Holger
Rainer Norbert Reinhard Friedrich Wilhelm Ernst Otto Georg Heinrich Hermann
Ludwig Paul Max Felix Lukas Jonas Leon Finn Noah Elias Ben Luca Paul Emil
Anton Jakob Moritz Niklas Tim Philipp Simon Julian Fabian David Benedikt
Konstantin Maximilian Johannes Vincent Henrik Till Ole Hannes Malte Bastian
Carsten Kai Volker Ulrich Hartmut Armin Detlef Eberhard Gottfried Siegfried
Lothar Erwin Alfred Adolf Bruno Fritz Gustav Willi Rudolf Konrad Albert
Benjamin Dominik Patrick Marcel Kevin Dennis Steffen Timo Nils Robin Marvin
Yannick Jannik Levin Mats Theo Oskar Karsten Wilfried Arnold Burkhard
""".split()

LAST = """
Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann
Schäfer Koch Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann
Braun Krüger Hofmann Hartmann Lange Schmitt Werner Schmitz Krause Meier
Lehmann Schmid Schulze Maier Köhler Herrmann König Walter Mayer Huber Kaiser
Fuchs Peters Lang Scholz Möller Weiß Jung Hahn Schubert Vogel Friedrich Keller
Günther Frank Berger Winkler Roth Beck Lorenz Baumann Franke Albrecht Schuster
Simon Ludwig Böhm Winter Kraus Martin Schumacher Krämer Vogt Stein Jäger Otto
Sommer Groß Seidel Heinrich Brandt Haas Schreiber Graf Schulte Dietrich Ziegler
Kuhn Kühn Pohl Engel Horn Busch Bergmann Thomas Voigt Sauer Arnold Wolff
Pfeiffer Ernst Hübner Kramer Jansen Lindner Franz Götz Hansen Barth Brinkmann
Ebert Frey Lenz Paul Hesse Dreher Kessler Petersen Thiel Rieger Haase Wendt
Schenk Schilling Brückner Kopp Ullrich Nowak Kunz Wirth Lutz Marx Bock Stark
Ritter Böttcher Kirchner Wilhelm Hein Sievers Schütz Rademacher Gerlach Kaufmann
Reuter Mertens Berg Fink Seifert Ahrens Henning Kolb Brandl Vetter Thiele
Hildebrandt Wiegand Buchholz Behrens Kruse Bachmann Stahl Heinze Eckert Ott
Scholl Nagel Rausch Hauser Engelhardt Riedel Sander Pietsch Kühne Schade Stock
Brenner Moser Wulf Martens Hammer Holz Berndt Hoppe Heller Bender Dörr Gruber
Jacobs Weidner Ulrich Winkelmann Reinhardt Lohmann Bayer Dittrich Wenzel
Hermann Schreiner Beckmann Kraft Adam Brand Krug Fiedler Hartwig Michel Heinemann
Probst Oswald Straub Kirsch Pfeifer Hecht Blum Rupp Decker Kern Witt Vollmer
Auer Sauter Erdmann Mohr Urban Schlegel Reimann Marquardt Geiger Quast Tiedemann
Rohde Röder Lux Merkel Hagedorn Wessel Grimm Hinz Kurz Eggers Stolz Linke
""".split()

# City, the first three digits of its postcodes (a plausible range, not an
# exact register), the number of postcodes drawn from that prefix.
CITIES = [
    ("Berlin", "101"), ("Berlin", "104"), ("Berlin", "120"), ("Hamburg", "201"),
    ("Hamburg", "223"), ("München", "803"), ("München", "816"), ("Köln", "506"),
    ("Köln", "509"), ("Frankfurt am Main", "603"), ("Stuttgart", "701"),
    ("Düsseldorf", "402"), ("Leipzig", "041"), ("Dortmund", "441"), ("Essen", "451"),
    ("Bremen", "283"), ("Dresden", "010"), ("Hannover", "301"), ("Nürnberg", "904"),
    ("Duisburg", "470"), ("Bochum", "447"), ("Wuppertal", "421"), ("Bielefeld", "336"),
    ("Bonn", "531"), ("Münster", "481"), ("Mannheim", "681"), ("Karlsruhe", "761"),
    ("Augsburg", "861"), ("Wiesbaden", "651"), ("Mönchengladbach", "410"),
    ("Gelsenkirchen", "458"), ("Aachen", "520"), ("Braunschweig", "381"),
    ("Kiel", "241"), ("Chemnitz", "091"), ("Halle (Saale)", "061"),
    ("Magdeburg", "391"), ("Freiburg im Breisgau", "791"), ("Krefeld", "478"),
    ("Mainz", "551"), ("Lübeck", "235"), ("Erfurt", "990"), ("Oberhausen", "460"),
    ("Rostock", "180"), ("Kassel", "341"), ("Hagen", "580"), ("Potsdam", "144"),
    ("Saarbrücken", "661"), ("Hamm", "590"), ("Ludwigshafen am Rhein", "670"),
    ("Oldenburg", "261"), ("Osnabrück", "490"), ("Leverkusen", "513"),
    ("Heidelberg", "691"), ("Darmstadt", "642"), ("Solingen", "426"),
    ("Regensburg", "930"), ("Würzburg", "970"), ("Göttingen", "370"),
    ("Ulm", "890"), ("Wolfsburg", "384"), ("Jena", "077"), ("Trier", "542"),
    ("Greifswald", "174"), ("Schwerin", "190"), ("Cottbus", "030"),
    ("Zwickau", "080"), ("Passau", "940"), ("Konstanz", "784"), ("Flensburg", "249"),
]

UMLAUTS = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"}

# Neighbouring keys on a German keyboard, for realistic substitutions.
KEYBOARD = {
    "a": "sqy", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh",
    "h": "gj", "i": "uo", "j": "hk", "k": "jl", "l": "kö", "m": "n", "n": "bm",
    "o": "ip", "p": "oü", "r": "et", "s": "ad", "t": "rz", "u": "zi", "v": "cb",
    "w": "qe", "x": "yc", "y": "xa", "z": "tu",
}

# Noise kinds and their probability for the noisy copy of an overlapping
# patient (independent; at most MAX_NOISE of them are applied).
NOISE = [
    ("typo_first", 0.15),
    ("typo_last", 0.20),
    ("umlaut", 0.15),
    ("swap_names", 0.07),
    ("drop_birthname", 0.50),
    ("moved", 0.15),
    ("date_typo", 0.04),
]
MAX_NOISE = 2

HEADER = ["id", "vorname", "nachname", "geburtsname", "geburtstag",
          "geburtsmonat", "geburtsjahr", "plz", "ort"]


def unique(names):
    seen, out = set(), []
    for n in names:
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out


def days_in_month(month, year):
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


class Person:
    __slots__ = ("first", "last", "birth", "day", "month", "year", "plz", "city")

    def __init__(self, first, last, birth, day, month, year, plz, city):
        self.first, self.last, self.birth = first, last, birth
        self.day, self.month, self.year = day, month, year
        self.plz, self.city = plz, city

    def copy(self):
        return Person(self.first, self.last, self.birth, self.day, self.month,
                      self.year, self.plz, self.city)

    def row(self, pid):
        return [pid, self.first, self.last, self.birth, str(self.day),
                str(self.month), str(self.year), self.plz, self.city]


class Generator:
    def __init__(self, rng, total):
        self.rng = rng
        self.female = unique(FEMALE)
        self.male = unique(MALE)
        self.last = unique(LAST)
        combos = (len(self.female) + len(self.male)) * len(self.last)
        # Distinct first+last names while there is plenty of room; beyond
        # that, people with the same name differ in their birth date.
        self.by_name = total <= combos // 3
        self.seen = set()

    def place(self):
        city, prefix = self.rng.choice(CITIES)
        return prefix + "%02d" % self.rng.randrange(100), city

    def person(self):
        rng = self.rng
        for _ in range(10000):
            female = rng.random() < 0.5
            first = rng.choice(self.female if female else self.male)
            last = rng.choice(self.last)
            # About a third of the women and a few men have a birth name.
            birth = ""
            if rng.random() < (0.35 if female else 0.04):
                birth = rng.choice(self.last)
                if birth == last:
                    birth = ""
            year = rng.randint(1930, 2012)
            month = rng.randint(1, 12)
            day = rng.randint(1, days_in_month(month, year))
            key = (first, last) if self.by_name else (first, last, year, month, day)
            if key in self.seen:
                continue
            self.seen.add(key)
            plz, city = self.place()
            return Person(first, last, birth, day, month, year, plz, city)
        sys.exit("synth_patients: could not draw another distinct person")

    def typo(self, name):
        """One keyboard slip: substitution, deletion, doubling or transposition."""
        rng = self.rng
        if len(name) < 3:
            return name
        i = rng.randrange(1, len(name))  # keep the initial: people rarely mistype it
        kind = rng.choice(("sub", "del", "dup", "swap"))
        c = name[i]
        if kind == "sub" and c.lower() in KEYBOARD:
            return name[:i] + rng.choice(KEYBOARD[c.lower()]) + name[i + 1:]
        if kind == "del":
            return name[:i] + name[i + 1:]
        if kind == "dup":
            return name[:i] + c + name[i:]
        if i + 1 < len(name):
            return name[:i] + name[i + 1] + name[i] + name[i + 2:]
        return name[:i] + name[i] + name[i:]

    def noisy(self, p):
        """A copy of `p` as another registry might have recorded them."""
        rng = self.rng
        q = p.copy()
        kinds = [k for k, prob in NOISE if rng.random() < prob]
        rng.shuffle(kinds)
        for kind in kinds[:MAX_NOISE]:
            if kind == "typo_first":
                q.first = self.typo(q.first)
            elif kind == "typo_last":
                q.last = self.typo(q.last)
            elif kind == "umlaut":
                q.first = "".join(UMLAUTS.get(c, c) for c in q.first)
                q.last = "".join(UMLAUTS.get(c, c) for c in q.last)
            elif kind == "swap_names":
                q.first, q.last = q.last, q.first
            elif kind == "drop_birthname":
                q.birth = ""
            elif kind == "moved":
                q.plz, q.city = self.place()
            elif kind == "date_typo":
                if q.day <= 12 and q.day != q.month:
                    q.day, q.month = q.month, q.day
                else:
                    q.day = max(1, min(days_in_month(q.month, q.year), q.day + rng.choice((-1, 1))))
        return q


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        for row in rows:
            w.writerow(row)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", type=int, required=True, help="patients at site A")
    ap.add_argument("--b", type=int, required=True, help="patients at site B")
    ap.add_argument("--overlap", type=int, required=True,
                    help="patients present at both sites")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--out", default=".", help="output directory (default .)")
    args = ap.parse_args()
    if min(args.a, args.b, args.overlap) < 0:
        ap.error("counts must not be negative")
    if args.overlap > min(args.a, args.b):
        ap.error("--overlap must not exceed --a or --b")

    rng = random.Random(args.seed)
    total = args.a + args.b - args.overlap
    gen = Generator(rng, total)
    people = [gen.person() for _ in range(total)]
    shared = people[:args.overlap]
    only_a = people[args.overlap:args.a]
    only_b = people[args.a:]

    # Which copy is noisy is random: either registry may hold the better one.
    site_a, site_b = [], []
    for p in shared:
        q = gen.noisy(p)
        if rng.random() < 0.5:
            p, q = q, p
        site_a.append((p, True))
        site_b.append((q, True))
    site_a += [(p, False) for p in only_a]
    site_b += [(p, False) for p in only_b]
    # Shuffle with the overlap tagged so the truth file can follow it.
    order_a = list(range(len(site_a)))
    order_b = list(range(len(site_b)))
    rng.shuffle(order_a)
    rng.shuffle(order_b)
    id_a = {src: "A%06d" % (pos + 1) for pos, src in enumerate(order_a)}
    id_b = {src: "B%06d" % (pos + 1) for pos, src in enumerate(order_b)}

    os.makedirs(args.out, exist_ok=True)
    write_csv(os.path.join(args.out, "site-a.csv"),
              [HEADER] + [site_a[src][0].row(id_a[src]) for src in order_a])
    write_csv(os.path.join(args.out, "site-b.csv"),
              [HEADER] + [site_b[src][0].row(id_b[src]) for src in order_b])
    # Shared patient k is site_a[k] and site_b[k]; list them in A's id order.
    truth = sorted((id_a[k], id_b[k]) for k in range(args.overlap))
    write_csv(os.path.join(args.out, "truth.csv"), [["id_a", "id_b"]] + truth)
    print("synth_patients: %d at A, %d at B, %d at both -> %s"
          % (args.a, args.b, args.overlap, args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
