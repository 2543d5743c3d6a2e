#!/bin/sh
# Makes the TLS test certificates in DIR (never committed): a CA, a server certificate for 127.0.0.1/localhost,
# a client certificate (CN tls-user), one with a subject of several RDNs (subject.*), an expired client certificate, a revoked client certificate with a CRL, and a
# second, unrelated CA with a client certificate ("wrong CA") and a server certificate (server2, for the SIGHUP
# reload test) of its own. EC P-256 keys, fast to make, but for one RSA-2048 server certificate (server-rsa.*).
#   make_test_certs.sh DIR
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"

key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }

# A minimal `openssl ca` set-up: it can set past validity dates (for the expired certificate) and make a CRL.
ca_setup() {
  name=$1
  mkdir -p "$name.db"
  : >"$name.db/index.txt"
  echo 1000 >"$name.db/serial"
  echo 1000 >"$name.db/crlnumber"
  cat >"$name.cnf" <<CNF
[ca]
default_ca = this
[this]
database = $name.db/index.txt
serial = $name.db/serial
crlnumber = $name.db/crlnumber
new_certs_dir = $name.db
certificate = $name.crt
private_key = $name.key
default_md = sha256
default_days = 3650
default_crl_days = 3650
policy = any
unique_subject = no
copy_extensions = copy
[any]
countryName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
[server_ext]
basicConstraints = CA:FALSE
subjectAltName = IP:127.0.0.1,DNS:localhost
extendedKeyUsage = serverAuth
[client_ext]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
CNF
  key "$name.key"
  openssl req -x509 -new -key "$name.key" -subj "/CN=$name" -days 3650 -out "$name.crt" 2>/dev/null
}

# sign CA NAME CN EXT [startdate enddate]
sign() {
  ca=$1 name=$2 cn=$3 ext=$4
  key "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
  if [ $# -ge 6 ]; then
    openssl ca -batch -config "$ca.cnf" -extensions "$ext" -startdate "$5" -enddate "$6" -in "$name.csr" \
      -out "$name.crt" 2>/dev/null
  else
    openssl ca -batch -config "$ca.cnf" -extensions "$ext" -in "$name.csr" -out "$name.crt" 2>/dev/null
  fi
}

ca_setup ca
sign ca server localhost server_ext
# The same server with an RSA-2048 key (the cipher suite and curve preference tests): ECDHE-RSA suites.
openssl req -new -newkey rsa:2048 -nodes -keyout server-rsa.key -subj "/CN=localhost" -out server-rsa.csr 2>/dev/null
openssl ca -batch -config ca.cnf -extensions server_ext -in server-rsa.csr -out server-rsa.crt 2>/dev/null
sign ca client tls-user client_ext
# A subject of several RDNs with characters RFC 2253 escapes (use_subject_as_username).
key subject.key
openssl req -new -key subject.key -subj "/C=DE/O=Acme, Inc./OU=Line\\+1/CN=#dev 7" -out subject.csr 2>/dev/null
openssl ca -batch -config ca.cnf -preserveDN -extensions client_ext -in subject.csr -out subject.crt 2>/dev/null
sign ca expired expired-user client_ext 20200101000000Z 20200201000000Z
sign ca revoked revoked-user client_ext
openssl ca -config ca.cnf -revoke revoked.crt 2>/dev/null
openssl ca -config ca.cnf -gencrl -out ca.crl 2>/dev/null

ca_setup wrongca
sign wrongca wrong wrong-user client_ext
sign wrongca server2 localhost server_ext

printf 'psk-user:0123456789abcdef0123456789abcdef\nother:00112233\n' >psk.txt
