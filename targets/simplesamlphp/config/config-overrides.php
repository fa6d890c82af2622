
/*
 * ---------------------------------------------------------------------------------------------
 * SAML Harness target (targets/simplesamlphp/): start.sh copies Debian's
 * /etc/simplesamlphp/config.php (the package's config.php template with Debian's paths) into
 * the state folder, drops its last line (require_once of /var/lib/simplesamlphp/secrets.inc.php)
 * and appends what follows. Every option set here is listed, with the reason, in README.md.
 * Nothing here changes how SimpleSAMLphp checks a SAML message.
 * ---------------------------------------------------------------------------------------------
 */

// Where the SP is served (php -S on loopback); a full URL, so that every URL SimpleSAMLphp
// makes (ACS, metadata, Destination and Recipient checks) is this one whatever the Host header.
$config['baseurlpath'] = '@@PUBLIC_URL@@/simplesaml/';

// This instance's own folders, in the state folder (never /etc/simplesamlphp or /var/lib).
$config['certdir'] = '@@STATE@@/cert/';
$config['loggingdir'] = '@@STATE@@/log/';
$config['datadir'] = '@@STATE@@/data/';
$config['tempdir'] = '@@STATE@@/tmp';
$config['metadatadir'] = '@@STATE@@/metadata/';
$config['session.phpsession.savepath'] = '@@STATE@@/sessions';

// The two secrets Debian keeps in /var/lib/simplesamlphp/secrets.inc.php: made once per state
// folder by start.sh. The admin password guards only SimpleSAMLphp's admin pages (unused here).
$config['secretsalt'] = '@@SECRET_SALT@@';
$config['auth.adminpassword'] = '@@ADMIN_PASSWORD@@';

// The harness reaches the SP over plain HTTP on loopback. SimpleSAMLphp refuses to set a
// Secure cookie over plain HTTP ("Setting secure cookie on plain HTTP is not allowed"), so the
// session cookie cannot be Secure; and browsers drop SameSite=None without Secure, so SameSite
// is left unset (the browser's default, Lax: the mock IdP and the SP are the same site,
// 127.0.0.1, so the IdP's form post still carries the cookie).
$config['session.cookie.secure'] = false;
$config['session.cookie.samesite'] = null;

// Logs go to stderr, which the harness keeps in sp.log (the template logs to syslog, which
// this machine does not run). The level is the template's NOTICE unless LOG_LEVEL says
// otherwise (start.sh): errors and refusals (with their exception) are logged at ERROR, a
// response processed as unsolicited at WARNING.
$config['logging.handler'] = 'stderr';
$config['logging.level'] = \SimpleSAML\Logger::@@LOG_LEVEL@@;

// Do not contact simplesamlphp.org from the admin pages (no internet here).
$config['admin.checkforupdates'] = false;
