#!/usr/bin/env python3
"""Compares one D-Bus interface in two introspection XML documents.

Usage: mb-introspect-compare.py INTERFACE SHIPPED.xml RUNNING.xml

The interface must appear exactly once in each. Both are normalised before
the comparison: whitespace and comments dropped, attributes compared as
sets, a method argument without a direction taken as "in", and the members
(methods, properties, signals, annotations) sorted by kind and name; the
order of the arguments of a member is kept, since it is part of the
signature. Exits 0 when equal, else 1 with both normalised forms on stderr.
"""
import sys
import xml.etree.ElementTree as ET


def norm(elem, parent_tag=None):
    attrs = dict(elem.attrib)
    if elem.tag == "arg" and parent_tag == "method":
        attrs.setdefault("direction", "in")
    children = [norm(c, elem.tag) for c in elem if isinstance(c.tag, str)]
    if elem.tag in ("node", "interface"):
        children.sort()
    return (elem.tag, tuple(sorted(attrs.items())), tuple(children))


def find(path, name):
    root = ET.parse(path).getroot()
    found = [i for i in root.iter("interface") if i.get("name") == name]
    if len(found) != 1:
        sys.exit("%s: interface %s found %d times" % (path, name, len(found)))
    return norm(found[0])


def show(t, depth=0):
    tag, attrs, children = t
    out = ["%s%s %s" % ("  " * depth, tag, " ".join("%s=%s" % a for a in attrs))]
    for c in children:
        out.extend(show(c, depth + 1))
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    name, shipped, running = sys.argv[1:]
    a, b = find(shipped, name), find(running, name)
    if a == b:
        return 0
    print("%s differs:\n--- %s\n%s\n--- %s\n%s" % (name, shipped, "\n".join(show(a)), running,
                                                   "\n".join(show(b))), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
