'use strict';
// The differential corpus: certificate chains made with the openssl CLI (test/support/openssl-pki.js),
// one class of RFC 5280 / OpenSSL rule per group, each with the outcome Node's `tls` is expected to
// reach. test/dtls/differential.test.js runs every case through our DTLS client and through
// tls.connect against openssl s_server with the same chain, bundle and name.
//
// A case: { name, leaf, chain: [certificates the server sends after the leaf], bundle: [CA PEM],
//           host: the name checked, partial: allowPartialChain, expect: what Node's tls does }
const SKID = 'subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n';
const CA = (more = '') => `basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n${SKID}${more}`;
const CA_PL = (n, more = '') => `basicConstraints=critical,CA:TRUE,pathlen:${n}\nkeyUsage=critical,keyCertSign,cRLSign\n${SKID}${more}`;
const LEAF = (san = 'DNS:tb.example.com,IP:127.0.0.1', more = '', ku = 'critical,digitalSignature,keyEncipherment') =>
  `basicConstraints=CA:FALSE\nkeyUsage=${ku}\nextendedKeyUsage=serverAuth\n${san ? `subjectAltName=${san}\n` : ''}${SKID}${more}`;
/** For issuers without a subjectKeyIdentifier (v1 and minimal CAs). */
const LEAF_NOAKID = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:tb.example.com\n';

const NAME = 'tb.example.com';
const { buildAttackCases } = require('./chain-corpus-attacks');

async function buildCorpus(pki) {
  const keys = {
    ecR: 'ec:P-256', ecR2: 'ec:P-256', ecI: 'ec:P-256', ecI2: 'ec:P-256', ecL: 'ec:P-256', ecP384: 'ec:P-384',
    rsaR: 'rsa:2048', rsaI: 'rsa:2048', rsaL: 'rsa:2048', rsa1024: 'rsa:1024', rsa512: 'rsa:512',
    ec192: 'ec:prime192v1', ec160: 'ec:secp160r1', ec112: 'ec:secp112r1',
  };
  for (const [k, type] of Object.entries(keys)) pki.key(k, type);

  const c = (name, spec) => pki.cert(name, spec);
  // Roots and the main chain.
  c('root', { key: 'ecR', cn: 'Test Root', ext: CA() });
  c('root2', { key: 'ecR2', cn: 'Other Root', ext: CA() });
  c('inter', { key: 'ecI', cn: 'Test Intermediate', issuer: 'root', ext: CA() });
  c('inter2', { key: 'ecI2', cn: 'Second Intermediate', issuer: 'inter', ext: CA() });
  c('leaf', { key: 'ecL', cn: NAME, issuer: 'inter', ext: LEAF() });
  c('leafR', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF() });
  c('leafI2', { key: 'ecL', cn: NAME, issuer: 'inter2', ext: LEAF() });
  c('rsaRoot', { key: 'rsaR', cn: 'RSA Root', ext: CA() });
  c('rsaInter', { key: 'rsaI', cn: 'RSA Intermediate', issuer: 'rsaRoot', ext: CA() });
  c('rsaLeaf', { key: 'rsaL', cn: NAME, issuer: 'rsaInter', ext: LEAF() });
  c('rsaLeafR', { key: 'rsaL', cn: NAME, issuer: 'rsaRoot', ext: LEAF() });
  c('ecUnderRsa', { key: 'ecI', cn: 'EC Intermediate under RSA', issuer: 'rsaRoot', ext: CA() });
  c('leafMixed', { key: 'ecL', cn: NAME, issuer: 'ecUnderRsa', ext: LEAF() });
  c('selfLeaf', { key: 'ecL', cn: NAME, ext: LEAF() });
  c('selfLeafRsa', { key: 'rsaL', cn: NAME, ext: LEAF() });
  c('p384Root', { key: 'ecP384', cn: 'P-384 Root', ext: CA(), md: 'sha384' });
  c('p384Leaf', { key: 'ecL', cn: NAME, issuer: 'p384Root', ext: LEAF(), md: 'sha384' });
  // Names.
  c('leafWild', { key: 'ecL', cn: 'wildcard', issuer: 'root', ext: LEAF('DNS:*.example.com') });
  c('leafIp', { key: 'ecL', cn: 'by address', issuer: 'root', ext: LEAF('IP:127.0.0.1') });
  c('leafDnsOnly', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF('DNS:tb.example.com') });
  c('leafCn', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF('') });
  c('leafTwoNames', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF('DNS:tb.example.com,DNS:evil.other.net') });
  // Key sizes and curves (security level).
  c('leafRsa1024', { key: 'rsa1024', cn: NAME, issuer: 'rsaRoot', ext: LEAF() });
  c('leafRsa512', { key: 'rsa512', cn: NAME, issuer: 'rsaRoot', ext: LEAF() });
  c('ca512', { key: 'rsa512', cn: 'RSA-512 Intermediate', issuer: 'rsaRoot', ext: CA() });
  c('leafUnder512', { key: 'rsaL', cn: NAME, issuer: 'ca512', ext: LEAF() });
  c('root512', { key: 'rsa512', cn: 'RSA-512 Root', ext: CA() });
  c('leafUnderRoot512', { key: 'rsaL', cn: NAME, issuer: 'root512', ext: LEAF() });
  c('ca192', { key: 'ec192', cn: 'P-192 Intermediate', issuer: 'root', ext: CA() });
  c('leaf192', { key: 'ecL', cn: NAME, issuer: 'ca192', ext: LEAF() });
  c('ca160', { key: 'ec160', cn: 'secp160r1 Intermediate', issuer: 'root', ext: CA() });
  c('leaf160', { key: 'ecL', cn: NAME, issuer: 'ca160', ext: LEAF() });
  c('ca112', { key: 'ec112', cn: 'secp112r1 Intermediate', issuer: 'root', ext: CA() });
  c('leaf112', { key: 'ecL', cn: NAME, issuer: 'ca112', ext: LEAF() });
  // Signature digests.
  c('leafMd5', { key: 'rsaL', cn: NAME, issuer: 'rsaRoot', ext: LEAF(), md: 'md5' });
  c('leafSha1', { key: 'rsaL', cn: NAME, issuer: 'rsaRoot', ext: LEAF(), md: 'sha1' });
  c('leafEcSha1', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF(), md: 'sha1' });
  c('interSha1', { key: 'rsaI', cn: 'SHA-1 Intermediate', issuer: 'rsaRoot', ext: CA(), md: 'sha1' });
  c('leafUnderSha1', { key: 'rsaL', cn: NAME, issuer: 'interSha1', ext: LEAF() });
  c('rootSha1', { key: 'rsaR', cn: 'SHA-1 Root', ext: CA(), md: 'sha1' });
  c('leafUnderRootSha1', { key: 'rsaL', cn: NAME, issuer: 'rootSha1', ext: LEAF() });
  c('rootMd5', { key: 'rsaR', cn: 'MD5 Root', ext: CA(), md: 'md5' });
  c('leafUnderRootMd5', { key: 'rsaL', cn: NAME, issuer: 'rootMd5', ext: LEAF() });
  c('leafSha224', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF(), md: 'sha224' });
  c('leafPss', { key: 'rsaL', cn: NAME, issuer: 'rsaRoot', ext: LEAF(), sigopt: ['rsa_padding_mode:pss', 'rsa_pss_saltlen:32'] });
  // Dates, read from the DER: UTCTime YY >= 50 is 19YY, else 20YY; 2050 and later are GeneralizedTime.
  c('leafExpired', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF(), start: '20200101000000Z', end: '20210101000000Z' });
  c('leafNotYet', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF(), start: '20390101000000Z', end: '20400101000000Z' });
  c('leaf1950to2060', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF(), start: '500101000000Z', end: '20600101000000Z' });
  c('leafFrom2049', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF(), start: '490101000000Z', end: '20600101000000Z' });
  c('leafTo2049', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF(), start: '200101000000Z', end: '491231235959Z' });
  c('leafIn1950', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF(), start: '500101000000Z', end: '501231235959Z' });
  c('interExpired', { key: 'ecI', cn: 'Expired Intermediate', issuer: 'root', ext: CA(), end: '20210101000000Z' });
  c('leafUnderInterExpired', { key: 'ecL', cn: NAME, issuer: 'interExpired', ext: LEAF() });
  c('rootExpired', { key: 'ecR2', cn: 'Expired Root', ext: CA(), end: '20210101000000Z' });
  c('leafUnderRootExpired', { key: 'ecL', cn: NAME, issuer: 'rootExpired', ext: LEAF() });
  c('interUnderRootExpired', { key: 'ecI', cn: 'Intermediate under Expired Root', issuer: 'rootExpired', ext: CA() });
  c('leafUnderInterUnderRootExpired', { key: 'ecL', cn: NAME, issuer: 'interUnderRootExpired', ext: LEAF() });
  // basicConstraints and pathLenConstraint.
  c('rootPL0', { key: 'ecR2', cn: 'Root pathlen 0', ext: CA_PL(0) });
  c('interUnderPL0', { key: 'ecI', cn: 'Intermediate under pathlen-0 root', issuer: 'rootPL0', ext: CA() });
  c('leafPL0root', { key: 'ecL', cn: NAME, issuer: 'interUnderPL0', ext: LEAF() });
  c('interPL0', { key: 'ecI', cn: 'Intermediate pathlen 0', issuer: 'root', ext: CA_PL(0) });
  c('leafUnderInterPL0', { key: 'ecL', cn: NAME, issuer: 'interPL0', ext: LEAF() });
  c('inter2UnderPL0', { key: 'ecI2', cn: 'Second under pathlen 0', issuer: 'interPL0', ext: CA() });
  c('leafUnderInter2PL0', { key: 'ecL', cn: NAME, issuer: 'inter2UnderPL0', ext: LEAF() });
  c('rootPL1', { key: 'rsaR', cn: 'Root pathlen 1', ext: CA_PL(1) });
  c('iA', { key: 'ecI', cn: 'Intermediate A', issuer: 'rootPL1', ext: CA() });
  c('leafUnderA', { key: 'ecL', cn: NAME, issuer: 'iA', ext: LEAF() });
  c('iB', { key: 'ecI2', cn: 'Intermediate B', issuer: 'iA', ext: CA() });
  c('leafUnderB', { key: 'ecL', cn: NAME, issuer: 'iB', ext: LEAF() });
  c('interCaFalse', { key: 'ecI', cn: 'Not a CA', issuer: 'root', ext: `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyCertSign\n${SKID}` });
  c('leafUnderCaFalse', { key: 'ecL', cn: NAME, issuer: 'interCaFalse', ext: LEAF() });
  c('interNoBc', { key: 'ecI', cn: 'No basicConstraints', issuer: 'root', ext: `keyUsage=critical,keyCertSign\n${SKID}` });
  c('leafUnderNoBc', { key: 'ecL', cn: NAME, issuer: 'interNoBc', ext: LEAF() });
  c('interV1', { key: 'ecI', cn: 'Version 1 Intermediate', issuer: 'root', ext: null });
  c('leafUnderV1', { key: 'ecL', cn: NAME, issuer: 'interV1', ext: LEAF_NOAKID });
  c('rootV1', { key: 'ecR2', cn: 'Version 1 Root', ext: null });
  c('leafUnderRootV1', { key: 'ecL', cn: NAME, issuer: 'rootV1', ext: LEAF_NOAKID });
  c('rootNoBc', { key: 'ecR2', cn: 'Root without basicConstraints', ext: 'subjectKeyIdentifier=hash\n' });
  c('leafUnderRootNoBc', { key: 'ecL', cn: NAME, issuer: 'rootNoBc', ext: LEAF() });
  // keyUsage and extendedKeyUsage.
  c('interNoCertSign', { key: 'ecI', cn: 'CA without keyCertSign', issuer: 'root', ext: `basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,cRLSign\n${SKID}` });
  c('leafUnderNoCertSign', { key: 'ecL', cn: NAME, issuer: 'interNoCertSign', ext: LEAF() });
  c('leafKuCertSign', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF(undefined, '', 'critical,keyCertSign') });
  c('interEkuServer', { key: 'ecI', cn: 'EKU serverAuth Intermediate', issuer: 'root', ext: CA('extendedKeyUsage=serverAuth\n') });
  c('leafUnderEkuServer', { key: 'ecL', cn: NAME, issuer: 'interEkuServer', ext: LEAF() });
  c('interEkuClient', { key: 'ecI', cn: 'EKU clientAuth Intermediate', issuer: 'root', ext: CA('extendedKeyUsage=clientAuth\n') });
  c('leafUnderEkuClient', { key: 'ecL', cn: NAME, issuer: 'interEkuClient', ext: LEAF() });
  c('interEkuAny', { key: 'ecI', cn: 'EKU any Intermediate', issuer: 'root', ext: CA('extendedKeyUsage=anyExtendedKeyUsage\n') });
  c('leafUnderEkuAny', { key: 'ecL', cn: NAME, issuer: 'interEkuAny', ext: LEAF() });
  c('leafEkuClient', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF().replace('extendedKeyUsage=serverAuth', 'extendedKeyUsage=clientAuth') });
  c('leafEkuBoth', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF().replace('extendedKeyUsage=serverAuth', 'extendedKeyUsage=clientAuth,serverAuth') });
  // Critical extensions.
  c('leafUnknownCrit', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF(undefined, '1.2.3.4.5=critical,DER:05:00\n') });
  c('leafUnknownNonCrit', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF(undefined, '1.2.3.4.5=DER:05:00\n') });
  c('interUnknownCrit', { key: 'ecI', cn: 'Intermediate with unknown critical extension', issuer: 'root', ext: CA('1.2.3.4.5=critical,DER:05:00\n') });
  c('leafUnderUnknownCrit', { key: 'ecL', cn: NAME, issuer: 'interUnknownCrit', ext: LEAF() });
  c('leafCritSkid', { key: 'ecL', cn: NAME, issuer: 'root', ext: LEAF().replace('subjectKeyIdentifier=hash', 'subjectKeyIdentifier=critical,hash') });
  // Name constraints.
  const nc = (cn, rule, issuer = 'root', key = 'ecI') => c(cn, { key, cn, issuer, ext: CA(`nameConstraints=critical,${rule}\n`) });
  nc('NC permits .example.org', 'permitted;DNS:.example.org');
  nc('NC permits .example.com', 'permitted;DNS:.example.com');
  nc('NC permits example.com', 'permitted;DNS:example.com');
  nc('NC excludes .example.com', 'excluded;DNS:.example.com');
  nc('NC excludes .example.org', 'excluded;DNS:.example.org');
  nc('NC permits IP 10.0.0.0-8', 'permitted;IP:10.0.0.0/255.0.0.0');
  nc('NC permits IP 127.0.0.0-8', 'permitted;IP:127.0.0.0/255.0.0.0');
  nc('NC excludes IP 127.0.0.0-8', 'excluded;IP:127.0.0.0/255.0.0.0');
  c('rootNcOrg', { key: 'ecR2', cn: 'Root NC permits .example.org', ext: CA('nameConstraints=critical,permitted;DNS:.example.org\n') });
  c('leafUnderRootNcOrg', { key: 'ecL', cn: NAME, issuer: 'rootNcOrg', ext: LEAF() });
  c('interUnderRootNcOrg', { key: 'ecI', cn: 'Intermediate under NC root', issuer: 'rootNcOrg', ext: CA() });
  c('leafUnderInterUnderRootNcOrg', { key: 'ecL', cn: NAME, issuer: 'interUnderRootNcOrg', ext: LEAF() });
  c('inter2UnderNcOrg', { key: 'ecI2', cn: 'Second under NC .example.org', issuer: 'NC permits .example.org', ext: CA() });
  c('leafUnderInter2NcOrg', { key: 'ecL', cn: NAME, issuer: 'inter2UnderNcOrg', ext: LEAF() });
  const under = (leafName, issuer, san = undefined) => c(leafName, { key: 'ecL', cn: NAME, issuer, ext: LEAF(san) });
  under('leafNcOrg', 'NC permits .example.org');
  under('leafNcCom', 'NC permits .example.com');
  under('leafNcComNoDot', 'NC permits example.com');
  under('leafNcExclCom', 'NC excludes .example.com');
  under('leafNcExclOrg', 'NC excludes .example.org');
  under('leafNcIp10', 'NC permits IP 10.0.0.0-8');
  under('leafNcIp127', 'NC permits IP 127.0.0.0-8');
  under('leafNcIpExcl127', 'NC excludes IP 127.0.0.0-8');
  under('leafNcComTwoNames', 'NC permits .example.com', 'DNS:tb.example.com,DNS:evil.other.net');
  under('leafNcComWild', 'NC permits .example.com', 'DNS:*.example.com');
  c('NC permits dirName O=Example', { key: 'ecI', cn: 'NC permits dirName O=Example', issuer: 'root', ext: `${CA('nameConstraints=critical,permitted;dirName:dir_sect\n')}\n[dir_sect]\nO=Example\n` });
  c('leafDirOk', { key: 'ecL', o: 'example', cn: NAME, issuer: 'NC permits dirName O=Example', ext: LEAF() });
  c('leafDirBad', { key: 'ecL', o: 'Other', cn: NAME, issuer: 'NC permits dirName O=Example', ext: LEAF() });
  nc('NC permits email .example.com', 'permitted;email:.example.com');
  c('leafEmailBad', { key: 'ecL', subject: `/CN=${NAME}/emailAddress=admin@evil.net`, issuer: 'NC permits email .example.com', ext: LEAF() });
  c('leafEmailOk', { key: 'ecL', subject: `/CN=${NAME}/emailAddress=admin@mail.example.com`, issuer: 'NC permits email .example.com', ext: LEAF() });
  c('leafCnNcOrg', { key: 'ecL', cn: NAME, issuer: 'NC permits .example.org', ext: LEAF('') });
  // Trust: wrong CA, forged signature, a loop of cross-signed CAs.
  c('fakeRoot', { key: 'ecR2', cn: 'Test Root', ext: CA() });
  c('leafForged', { key: 'ecL', cn: NAME, issuer: 'fakeRoot', ext: LEAF().replace('authorityKeyIdentifier=keyid:always', 'authorityKeyIdentifier=none') });
  c('leafForgedAkid', { key: 'ecL', cn: NAME, issuer: 'fakeRoot', ext: LEAF() });
  c('loopA0', { key: 'ecI', cn: 'Loop A', ext: CA() });
  c('loopB', { key: 'ecI2', cn: 'Loop B', issuer: 'loopA0', ext: CA() });
  c('loopA', { key: 'ecI', cn: 'Loop A', issuer: 'loopB', ext: CA() });
  c('leafLoop', { key: 'ecL', cn: NAME, issuer: 'loopA', ext: LEAF() });
  // Eleven intermediates: within OpenSSL's depth limit (100), beyond ours (10 certificates).
  for (let i = 1; i <= 11; i++) c(`deep${i}`, { key: i % 2 ? 'ecI' : 'ecI2', cn: `Deep ${i}`, issuer: i === 1 ? 'root' : `deep${i - 1}`, ext: CA() });
  c('leafDeep', { key: 'ecL', cn: NAME, issuer: 'deep11', ext: LEAF() });
  // RSA leaf whose keyUsage lacks digitalSignature (a documented stricter choice of ours).
  c('rsaLeafKeyEncOnly', { key: 'rsaL', cn: NAME, issuer: 'rsaRoot', ext: LEAF(undefined, '', 'critical,keyEncipherment') });

  const attacks = await buildAttackCases(pki);
  const A = 'accept'; const R = 'reject';
  const k = (name, leaf, chain, bundle, expect, extra = {}) => ({ name, leaf, chain, bundle, expect, host: NAME, partial: false, ...extra });
  return [
    // good chains
    k('EC root → leaf', 'leafR', [], ['root'], A),
    k('EC root → intermediate → leaf, intermediate sent', 'leaf', ['inter'], ['root'], A),
    k('EC, intermediate and root sent', 'leaf', ['inter', 'root'], ['root'], A),
    k('EC, two intermediates sent out of order with the root', 'leafI2', ['root', 'inter', 'inter2'], ['root'], A),
    k('EC, intermediate only in the bundle', 'leaf', [], ['root', 'inter'], A),
    k('RSA root → intermediate → leaf', 'rsaLeaf', ['rsaInter'], ['rsaRoot'], A),
    k('RSA root → leaf', 'rsaLeafR', [], ['rsaRoot'], A),
    k('RSA root → EC intermediate → EC leaf', 'leafMixed', ['ecUnderRsa'], ['rsaRoot'], A),
    k('P-384 root, ecdsa-with-SHA384', 'p384Leaf', [], ['p384Root'], A),
    k('bundle with an unrelated root first', 'leaf', ['inter'], ['root2', 'root'], A),
    k('pinning: self-signed EC leaf pasted as the CA', 'selfLeaf', [], ['selfLeaf'], A),
    k('pinning: self-signed RSA leaf pasted as the CA', 'selfLeafRsa', [], ['selfLeafRsa'], A),
    // names
    k('wildcard *.example.com for tb.example.com', 'leafWild', [], ['root'], A),
    k('wildcard *.example.com for a.b.example.com', 'leafWild', [], ['root'], R, { host: 'a.b.example.com' }),
    k('IP SAN 127.0.0.1 for 127.0.0.1', 'leafIp', [], ['root'], A, { host: '127.0.0.1' }),
    k('DNS-only certificate for 127.0.0.1', 'leafDnsOnly', [], ['root'], R, { host: '127.0.0.1' }),
    k('host name mismatch', 'leafR', [], ['root'], R, { host: 'other.example.com' }),
    k('no subjectAltName: CN is the name', 'leafCn', [], ['root'], A),
    // security level
    k('RSA-1024 leaf (security level 1 allows it)', 'leafRsa1024', [], ['rsaRoot'], A),
    k('RSA-512 leaf (also the ServerKeyExchange key)', 'leafRsa512', [], ['rsaRoot'], R),
    k('RSA-512 intermediate', 'leafUnder512', ['ca512'], ['rsaRoot'], R),
    k('RSA-512 root', 'leafUnderRoot512', [], ['root512'], R),
    k('P-192 intermediate key', 'leaf192', ['ca192'], ['root'], A),
    k('secp160r1 intermediate key (80 bits)', 'leaf160', ['ca160'], ['root'], A),
    k('secp112r1 intermediate key (tiny curve)', 'leaf112', ['ca112'], ['root'], R),
    k('MD5-signed leaf', 'leafMd5', [], ['rsaRoot'], R),
    k('SHA-1-signed RSA leaf', 'leafSha1', [], ['rsaRoot'], R),
    k('ecdsa-with-SHA1 leaf', 'leafEcSha1', [], ['root'], R),
    k('SHA-1-signed intermediate', 'leafUnderSha1', ['interSha1'], ['rsaRoot'], R),
    k("SHA-1 self-signature of the root (a trust anchor's own signature is not checked)", 'leafUnderRootSha1', [], ['rootSha1'], A),
    k('MD5 self-signature of the root', 'leafUnderRootMd5', [], ['rootMd5'], A),
    k('SHA-224 leaf (112 bits)', 'leafSha224', [], ['root'], A),
    k('RSASSA-PSS-signed leaf', 'leafPss', [], ['rsaRoot'], A),
    // dates
    k('expired leaf', 'leafExpired', [], ['root'], R),
    k('leaf not yet valid', 'leafNotYet', [], ['root'], R),
    k('UTCTime 1950 → GeneralizedTime 2060', 'leaf1950to2060', [], ['root'], A),
    k('UTCTime notBefore 49 is 2049: not yet valid', 'leafFrom2049', [], ['root'], R),
    k('UTCTime notAfter 49 is 2049: still valid', 'leafTo2049', [], ['root'], A),
    k('UTCTime 50 is 1950: expired', 'leafIn1950', [], ['root'], R),
    k('expired intermediate', 'leafUnderInterExpired', ['interExpired'], ['root'], R),
    k('expired root in the bundle', 'leafUnderRootExpired', [], ['rootExpired'], R),
    k('expired root above a trusted intermediate, partial chains allowed (OpenSSL stops at the intermediate)', 'leafUnderInterUnderRootExpired', [], ['interUnderRootExpired', 'rootExpired'], A, { partial: true }),
    // basicConstraints, pathLenConstraint
    k('pathlen 0 root with one intermediate', 'leafPL0root', ['interUnderPL0'], ['rootPL0'], R),
    k('pathlen 0 intermediate issuing the leaf', 'leafUnderInterPL0', ['interPL0'], ['root'], A),
    k('pathlen 0 intermediate above another intermediate', 'leafUnderInter2PL0', ['inter2UnderPL0', 'interPL0'], ['root'], R),
    k('pathlen 1 root, one intermediate', 'leafUnderA', ['iA'], ['rootPL1'], A),
    k('pathlen 1 root, two intermediates', 'leafUnderB', ['iB', 'iA'], ['rootPL1'], R),
    k('intermediate with CA:FALSE', 'leafUnderCaFalse', ['interCaFalse'], ['root'], R),
    k('intermediate without basicConstraints', 'leafUnderNoBc', ['interNoBc'], ['root'], R),
    k('version 1 intermediate', 'leafUnderV1', ['interV1'], ['root'], R),
    k('version 1 self-signed root', 'leafUnderRootV1', [], ['rootV1'], A),
    k('v3 root without basicConstraints or keyUsage', 'leafUnderRootNoBc', [], ['rootNoBc'], R),
    // key usage, extended key usage
    k('intermediate without keyCertSign', 'leafUnderNoCertSign', ['interNoCertSign'], ['root'], R),
    k('leaf keyUsage keyCertSign only', 'leafKuCertSign', [], ['root'], R),
    k('intermediate EKU serverAuth', 'leafUnderEkuServer', ['interEkuServer'], ['root'], A),
    k('intermediate EKU clientAuth only', 'leafUnderEkuClient', ['interEkuClient'], ['root'], R),
    k('intermediate EKU anyExtendedKeyUsage only', 'leafUnderEkuAny', ['interEkuAny'], ['root'], R),
    k('leaf EKU clientAuth only', 'leafEkuClient', [], ['root'], R),
    k('leaf EKU clientAuth + serverAuth', 'leafEkuBoth', [], ['root'], A),
    // critical extensions
    k('leaf with an unknown critical extension', 'leafUnknownCrit', [], ['root'], R),
    k('leaf with an unknown non-critical extension', 'leafUnknownNonCrit', [], ['root'], A),
    k('intermediate with an unknown critical extension', 'leafUnderUnknownCrit', ['interUnknownCrit'], ['root'], R),
    k('leaf with a critical subjectKeyIdentifier (OpenSSL does not handle it as critical)', 'leafCritSkid', [], ['root'], R),
    // name constraints
    k('NC intermediate permits .example.org, leaf tb.example.com', 'leafNcOrg', ['NC permits .example.org'], ['root'], R),
    k('NC intermediate permits .example.com', 'leafNcCom', ['NC permits .example.com'], ['root'], A),
    k('NC intermediate permits example.com (no dot)', 'leafNcComNoDot', ['NC permits example.com'], ['root'], A),
    k('NC intermediate excludes .example.com', 'leafNcExclCom', ['NC excludes .example.com'], ['root'], R),
    k('NC intermediate excludes .example.org', 'leafNcExclOrg', ['NC excludes .example.org'], ['root'], A),
    k('NC intermediate permits IP 10.0.0.0-8, leaf 127.0.0.1', 'leafNcIp10', ['NC permits IP 10.0.0.0-8'], ['root'], R, { host: '127.0.0.1' }),
    k('NC intermediate permits IP 127.0.0.0-8', 'leafNcIp127', ['NC permits IP 127.0.0.0-8'], ['root'], A, { host: '127.0.0.1' }),
    k('NC intermediate excludes IP 127.0.0.0-8', 'leafNcIpExcl127', ['NC excludes IP 127.0.0.0-8'], ['root'], R, { host: '127.0.0.1' }),
    k('NC root permits .example.org, leaf under it', 'leafUnderRootNcOrg', [], ['rootNcOrg'], R),
    k('NC root permits .example.org, two levels down', 'leafUnderInterUnderRootNcOrg', ['interUnderRootNcOrg'], ['rootNcOrg'], R),
    k('NC intermediate two levels up', 'leafUnderInter2NcOrg', ['inter2UnderNcOrg', 'NC permits .example.org'], ['root'], R),
    k('NC permits .example.com, leaf also names evil.other.net', 'leafNcComTwoNames', ['NC permits .example.com'], ['root'], R),
    k('NC permits .example.com, wildcard leaf', 'leafNcComWild', ['NC permits .example.com'], ['root'], A),
    k('NC permits .example.org, CN-only leaf (CN checked as a DNS name)', 'leafCnNcOrg', ['NC permits .example.org'], ['root'], R),
    k('NC permits dirName O=Example, leaf O=example (names compare case-folded)', 'leafDirOk', ['NC permits dirName O=Example'], ['root'], A),
    k('NC permits dirName O=Example, leaf O=Other', 'leafDirBad', ['NC permits dirName O=Example'], ['root'], R),
    k('NC permits email .example.com, subject emailAddress admin@evil.net', 'leafEmailBad', ['NC permits email .example.com'], ['root'], R),
    k('NC permits email .example.com, subject emailAddress admin@mail.example.com', 'leafEmailOk', ['NC permits email .example.com'], ['root'], A),
    // trust anchors, partial chains
    k('wrong CA', 'leaf', ['inter'], ['root2'], R),
    k('server sends its root, which is not in the bundle', 'leaf', ['inter', 'root'], ['root2'], R),
    k('self-signed leaf not in the bundle', 'selfLeaf', [], ['root'], R),
    k('forged signature (issuer name of the root, another key)', 'leafForged', [], ['root'], R),
    k('issuer name of the root, another key, authority key id says so', 'leafForgedAkid', [], ['root'], R),
    k('a loop of cross-signed CAs', 'leafLoop', ['loopA', 'loopB'], ['root'], R),
    k('intermediate alone in the bundle', 'leaf', ['inter'], ['inter'], R),
    k('intermediate alone in the bundle, partial chains allowed', 'leaf', ['inter'], ['inter'], A, { partial: true }),
    k('intermediate alone in the bundle, root sent', 'leaf', ['inter', 'root'], ['inter'], R),
    k('intermediate alone in the bundle, root sent, partial chains allowed', 'leaf', ['inter', 'root'], ['inter'], A, { partial: true }),
    k('non-self-signed leaf pinned alone', 'leafR', [], ['leafR'], R),
    k('non-self-signed leaf pinned alone, partial chains allowed', 'leafR', [], ['leafR'], A, { partial: true }),
    k('intermediate under an expired root, bundle holds only the intermediate, partial chains allowed', 'leafUnderInterUnderRootExpired', [], ['interUnderRootExpired'], A, { partial: true }),
    k('RSA leaf with keyUsage keyEncipherment only', 'rsaLeafKeyEncOnly', [], ['rsaRoot'], A),
    k('a chain of 13 certificates (11 intermediates)', 'leafDeep', Array.from({ length: 11 }, (_, i) => `deep${11 - i}`), ['root'], A),
    ...attacks,
  ];
}

/**
 * Where we are stricter than Node's `tls` by choice: case name → why. The differential test
 * accepts "Node accepts, we reject" only for these.
 */
const STRICTER = {
  'RSA leaf with keyUsage keyEncipherment only':
    'the leaf key signs the ECDHE key exchange, so we require digitalSignature when keyUsage is present (OpenSSL checks that only for ECDSA certificates)',
};

module.exports = { buildCorpus, STRICTER };
