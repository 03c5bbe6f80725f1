#!/usr/bin/python3
"""Helper for tests/s3/swift-server.sh (run it with Debian's /usr/bin/python3,
which is the interpreter python3-swift is installed for).

Subcommands:
  run SWIFT_DIR SERVER CONF       run one Swift WSGI server in the foreground,
                                  reading swift.conf from SWIFT_DIR, not /etc/swift
  rings SWIFT_DIR A_PORT C_PORT O_PORT DEVICE
                                  build 1-replica account/container/object rings
  build DIR TEMPLATE_DIR REGION ACCOUNT USER SECRET RUN_USER LOG_LEVEL DEVICE
                                  pick 5 free ports, render every config of
                                  DIR/etc, build the rings; print the ports
  render TEMPLATE OUT KEY=VALUE...
                                  replace @KEY@ in TEMPLATE, write OUT
  xattr-ok DIR                    exit 0 if DIR's filesystem takes user.* xattrs
  free-ports N                    print N distinct free 127.0.0.1 TCP ports
  wait-ready PIDFILE TIMEOUT ENDPOINT KEY SECRET REGION URL...
                                  wait until every pid in PIDFILE lives, every
                                  URL answers 200 on /healthcheck (tcp://H:P:
                                  accepts a connection) and a signed ListBuckets
                                  to ENDPOINT answers 200
  s3-req [--help] METHOD PATH ...
                                  one SigV4-signed request (credentials from
                                  the environment that start printed); prints
                                  the status, then the body
"""

import datetime
import hashlib
import hmac
import http.client
import os
import random
import re
import socket
import sys
import time
import urllib.parse


def point_swift_at(swift_dir):
    """Make every later Swift import read SWIFT_DIR/swift.conf.

    Swift hard-codes /etc/swift/swift.conf (swift.common.utils.SWIFT_CONF_FILE)
    for the hash prefix/suffix, the storage policies and the constraints; the
    server's swift_dir option only moves rings and other files. The constraints
    and storage_policy modules read the file when first imported, so the
    variable is changed before they are imported, and reloaded to be sure.
    swift.common.utils itself already reads the file while it is imported
    (errors ignored), so open() sends that read to ours too: the host's
    /etc/swift is never opened, whether it is missing, stale or broken.
    """
    import builtins
    ours = os.path.join(swift_dir, 'swift.conf')
    real_open = builtins.open

    def redirect(path, *args, **kwargs):
        if path == '/etc/swift/swift.conf':
            path = ours
        return real_open(path, *args, **kwargs)

    builtins.open = redirect
    try:
        from swift.common import utils
    finally:
        builtins.open = real_open
    utils.SWIFT_CONF_FILE = ours
    utils.HASH_PATH_PREFIX = b''
    utils.HASH_PATH_SUFFIX = b''
    utils.validate_configuration()
    from swift.common import constraints, storage_policy
    constraints.reload_constraints()
    storage_policy.reload_storage_policies()


def cmd_run(swift_dir, server, conf):
    point_swift_at(swift_dir)
    from swift.common.wsgi import run_wsgi
    kwargs = {'verbose': True}   # log to stderr too (there is no syslog here)
    if server == 'object-server':
        from swift.obj import server as object_server
        kwargs['global_conf_callback'] = object_server.global_conf_callback
    return run_wsgi(conf, server, **kwargs)


def cmd_rings(swift_dir, a_port, c_port, o_port, device):
    point_swift_at(swift_dir)
    # The same code as /usr/bin/swift-ring-builder, in one process.
    from swift.cli.ringbuilder import main as ring_builder
    for name, port in (('account', a_port), ('container', c_port),
                       ('object', o_port)):
        builder = os.path.join(swift_dir, name + '.builder')
        for args in (['create', '8', '1', '0'],
                     ['add', 'r1z1-127.0.0.1:%s/%s' % (port, device), '1'],
                     ['rebalance']):
            try:
                rc = ring_builder(['swift-ring-builder', builder] + args)
            except SystemExit as e:
                rc = e.code
            if rc not in (0, None):
                sys.stderr.write('swift-ring-builder %s %s failed (%s)\n'
                                 % (builder, ' '.join(args), rc))
                return 1
        if not os.path.exists(os.path.join(swift_dir, name + '.ring.gz')):
            sys.stderr.write('no %s.ring.gz written\n' % name)
            return 1
    return 0


def render(template, out, values):
    with open(template) as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace('@%s@' % key, value)
    left = re.findall(r'@[A-Z_]+@', text)
    if left:
        sys.stderr.write('unrendered placeholders in %s: %s\n' % (out, left))
        return 1
    with open(out, 'w') as f:
        f.write(text)
    return 0


def cmd_render(template, out, *pairs):
    return render(template, out, dict(p.split('=', 1) for p in pairs))


def cmd_xattr_ok(path):
    probe = os.path.join(path, '.xattr-probe-%d' % os.getpid())
    try:
        with open(probe, 'w') as f:
            # Swift stores pickled metadata in user.swift.metadata* xattrs,
            # in pieces of up to 254 bytes.
            value = b'x' * 254
            os.setxattr(f.fileno(), 'user.swift.metadata', value)
            os.setxattr(f.fileno(), 'user.swift.metadata1', value)
            ok = os.getxattr(f.fileno(), 'user.swift.metadata1') == value
    except OSError as e:
        sys.stderr.write('user xattrs on %s: %s\n' % (path, e))
        ok = False
    finally:
        try:
            os.unlink(probe)
        except OSError:
            pass
    return 0 if ok else 1


def pick_ports(n):
    # Ports below the kernel's ephemeral range (32768+ on Linux), so an
    # outgoing connection cannot grab one between this check and the bind.
    ports = []
    rng = random.SystemRandom()
    for _ in range(5000):
        if len(ports) == n:
            return ports
        port = rng.randrange(20000, 32000)
        if port in ports:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            continue
        finally:
            s.close()
        ports.append(port)
    sys.stderr.write('no free ports found\n')
    return None


def cmd_free_ports(n):
    ports = pick_ports(int(n))
    if not ports:
        return 1
    print(' '.join(str(p) for p in ports))
    return 0


def cmd_build(d, tpl, region, account, user, secret, run_user, log_level,
              device):
    """Pick ports, render every config into D/etc, build the rings.
    Prints "ACCOUNT CONTAINER OBJECT PROXY MEMCACHED" ports."""
    etc = os.path.join(d, 'etc')
    sys.stdout = sys.stderr         # keep stdout for the port line
    ports = pick_ports(5)
    if not ports:
        return 1
    pa, pc, po, pp, pm = ports
    common = {'RUN_USER': run_user, 'SWIFT_DIR': etc, 'LOG_LEVEL': log_level}
    jobs = [('swift.conf.in', 'swift.conf',
             {'HASH_PREFIX': os.urandom(8).hex(),
              'HASH_SUFFIX': os.urandom(8).hex()})]
    for kind, port in (('account', pa), ('container', pc), ('object', po)):
        jobs.append(('storage-server.conf.in', kind + '-server.conf',
                     dict(common, KIND=kind, PORT=str(port),
                          DEVICES=os.path.join(d, 'srv'),
                          RUN_DIR=os.path.join(d, 'run'))))
    jobs.append(('proxy-server.conf.in', 'proxy-server.conf',
                 dict(common, PORT=str(pp), REGION=region, ACCOUNT=account,
                      USER=user, SECRET=secret, MEMCACHED_PORT=str(pm))))
    for template, out, values in jobs:
        if render(os.path.join(tpl, template), os.path.join(etc, out),
                  values):
            return 1
    if cmd_rings(etc, pa, pc, po, device):
        return 1
    sys.stdout = sys.__stdout__
    print('%d %d %d %d %d' % tuple(ports))
    return 0


def sign_v4(method, endpoint, key, secret, region, path, host=None,
            query='', payload_hash=None, extra_headers=None, skew=0):
    """Headers for one SigV4 (header-signed) S3 request; every header sent,
    extra ones too, is signed."""
    url = urllib.parse.urlsplit(endpoint)
    host = host or url.netloc
    now = datetime.datetime.now(datetime.timezone.utc)
    now += datetime.timedelta(seconds=skew)
    amz_date = now.strftime('%Y%m%dT%H%M%SZ')
    day = now.strftime('%Y%m%d')
    if payload_hash is None:
        payload_hash = hashlib.sha256(b'').hexdigest()
    headers = {'host': host, 'x-amz-content-sha256': payload_hash,
               'x-amz-date': amz_date}
    for k, v in (extra_headers or {}).items():
        headers[k.lower()] = v.strip()
    signed = ';'.join(sorted(headers))
    canonical_query = '&'.join(sorted(
        '%s=%s' % (urllib.parse.quote(k, safe='-_.~'),
                   urllib.parse.quote(v, safe='-_.~'))
        for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)))
    canonical = '\n'.join([
        method, urllib.parse.quote(path, safe='/-_.~'), canonical_query,
        ''.join('%s:%s\n' % (k, headers[k]) for k in sorted(headers)),
        signed, payload_hash])
    scope = '%s/%s/s3/aws4_request' % (day, region)
    to_sign = '\n'.join(['AWS4-HMAC-SHA256', amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    k = ('AWS4' + secret).encode()
    for part in (day, region, 's3', 'aws4_request'):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers['authorization'] = (
        'AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s'
        % (key, scope, signed, signature))
    return headers


def http_req(url_base, method, path, headers=None, body=None, timeout=3.0):
    url = urllib.parse.urlsplit(url_base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def http_get(url_base, path, headers=None, timeout=3.0):
    return http_req(url_base, 'GET', path, headers, None, timeout)


def s3_req(endpoint, key, secret, region, method, path, host=None,
           body=b'', payload_hash=None, extra_headers=None, skew=0,
           timeout=3.0):
    query = ''
    if '?' in path:
        path, query = path.split('?', 1)
    if payload_hash is None:
        payload_hash = hashlib.sha256(body).hexdigest()
    headers = sign_v4(method, endpoint, key, secret, region, path, host,
                      query, payload_hash, extra_headers, skew)
    if body or method in ('PUT', 'POST'):
        headers['content-length'] = str(len(body))
    return http_req(endpoint, method, path + ('?' + query if query else ''),
                    headers, body or None, timeout)


def s3_get(endpoint, key, secret, region, path, host=None):
    return s3_req(endpoint, key, secret, region, 'GET', path, host)


def pid_alive(pid, start):
    try:
        with open('/proc/%s/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return False
    # fields[0] is the state (field 3); starttime is field 22 -> fields[19]
    return fields[0] != 'Z' and fields[19] == start


def cmd_wait_ready(pidfile, timeout, endpoint, key, secret, region, *urls):
    deadline = time.monotonic() + float(timeout)
    pending = list(urls)
    last = 'nothing tried yet'
    while True:
        with open(pidfile) as f:
            for line in f:
                name, pid, start = line.split()
                if not pid_alive(pid, start):
                    sys.stderr.write('%s (pid %s) exited during start-up\n'
                                     % (name, pid))
                    return 3
        try:
            while pending:
                if pending[0].startswith('tcp://'):
                    host, port = pending[0][6:].rsplit(':', 1)
                    socket.create_connection((host, int(port)), 2.0).close()
                    pending.pop(0)
                    continue
                status, body = http_get(pending[0], '/healthcheck',
                                        timeout=2.0)
                if status != 200:
                    raise RuntimeError('%s/healthcheck: %s %r'
                                       % (pending[0], status, body[:200]))
                pending.pop(0)
            status, body = s3_get(endpoint, key, secret, region, '/')
            if status == 200 and b'ListAllMyBucketsResult' in body:
                return 0
            raise RuntimeError('signed ListBuckets: %s %r'
                               % (status, body[:300]))
        except (OSError, http.client.HTTPException, RuntimeError) as e:
            last = str(e) or repr(e)
        if time.monotonic() >= deadline:
            sys.stderr.write('not ready after %ss; last: %s\n'
                             % (timeout, last))
            return 4
        time.sleep(0.2)


def cmd_s3_req(*argv):
    """s3-req [options] METHOD PATH: one SigV4 request, for probing the
    server by hand or from tests; prints the status, then the body."""
    import argparse
    ap = argparse.ArgumentParser(prog='swiftd.py s3-req')
    ap.add_argument('method')
    ap.add_argument('path', help='/BUCKET/KEY?QUERY (path-style)')
    ap.add_argument('--endpoint', default=os.environ.get('S3_ENDPOINT'))
    ap.add_argument('--key', default=os.environ.get('AWS_ACCESS_KEY_ID'))
    ap.add_argument('--secret',
                    default=os.environ.get('AWS_SECRET_ACCESS_KEY'))
    ap.add_argument('--region', default=os.environ.get('AWS_REGION'))
    ap.add_argument('--host', help='Host header (e.g. BUCKET.localhost:PORT)')
    ap.add_argument('--body', help='file whose bytes are the request body')
    ap.add_argument('--payload-hash',
                    help='x-amz-content-sha256 to send instead of the real one')
    ap.add_argument('--header', action='append', default=[],
                    help='extra signed header NAME:VALUE')
    ap.add_argument('--skew', type=int, default=0,
                    help='seconds to add to the signing time')
    a = ap.parse_args(argv)
    body = b''
    if a.body:
        with open(a.body, 'rb') as f:
            body = f.read()
    extra = dict(h.split(':', 1) for h in a.header)
    status, data = s3_req(a.endpoint, a.key, a.secret, a.region, a.method,
                          a.path, a.host, body, a.payload_hash, extra, a.skew,
                          timeout=30.0)
    print(status)
    sys.stdout.write(data.decode('utf-8', 'replace') + '\n')
    return 0


COMMANDS = {
    'run': cmd_run, 'rings': cmd_rings, 'render': cmd_render,
    'xattr-ok': cmd_xattr_ok, 'build': cmd_build, 'free-ports': cmd_free_ports,
    'wait-ready': cmd_wait_ready, 's3-req': cmd_s3_req,
}

if __name__ == '__main__':
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]))
