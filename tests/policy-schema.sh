#!/bin/sh
# schemas/policy.schema.json describes what the C parser accepts: the example
# policies and the valid fixtures pass it; every invalid fixture fails it
# (fails to load as YAML, or fails validation), except those whose first line
# says "# schema-cannot-express: WHY". Needs python3-jsonschema, python3-yaml.
set -u
src="${MB_SRCDIR:?}"
for py in ${PYTHON3:-} python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import jsonschema, yaml' 2>/dev/null; then
        break
    fi
    py=
done
if [ -z "$py" ]; then
    echo "SKIP: python3 with the jsonschema and yaml modules (python3-jsonschema, python3-yaml) not found"
    exit 77
fi
exec "$py" - "$src" <<'PYEOF'
import glob, json, os, sys
import jsonschema, yaml

src = sys.argv[1]
with open(os.path.join(src, "schemas/policy.schema.json")) as f:
    schema = json.load(f)
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)

def problems(path):
    try:
        with open(path, "rb") as f:
            doc = yaml.safe_load(f)
    except Exception as e:  # not YAML at all
        return ["yaml: " + str(e).splitlines()[0]]
    return [e.message for e in validator.iter_errors(doc)]

passed = failed = skipped = 0
def result(ok, path, why):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL %s: %s" % (os.path.relpath(path, src), why))

good = [os.path.join(src, "data/policy.yaml.example")]
good += sorted(glob.glob(os.path.join(src, "data/policy.d-examples/*.yaml")))
good += sorted(glob.glob(os.path.join(src, "tests/data/policy/valid/*.yaml")))
for path in good:
    p = problems(path)
    result(not p, path, "; ".join(p))

for path in sorted(glob.glob(os.path.join(src, "tests/data/policy/invalid/*.yaml"))):
    with open(path, "rb") as f:
        first = f.readline()
    if first.startswith(b"# schema-cannot-express:"):
        skipped += 1
        continue
    result(bool(problems(path)), path, "passes the schema but the parser refuses it")

print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
PYEOF
