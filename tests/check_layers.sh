#!/bin/sh
# Dependencies point down: parsers/ must not include I/O libraries that
# only gateway/ may use.  Fails listing every offending line.
top=${1:-.}
bad=$(grep -nE '#[[:space:]]*include[[:space:]]*[<"](uv\.h|sqlite3\.h|openssl/|http_parser\.h)' \
      "$top"/parsers/*.c "$top"/parsers/*/*.c "$top"/include/cdx/*.h 2>/dev/null |
      grep -vE '^[^:]*include/cdx/(tls|server|registry|pki)\.h:')
if [ -n "$bad" ]; then
  echo "layering violation: only gateway/ may include these headers:"
  echo "$bad"
  exit 1
fi
echo "layers ok"
