<?php
// SPDX-License-Identifier: MIT
// igtoken: a fresh Instagram / Meta Graph API token from igtokend, for PHP apps.
// No dependencies: copy this file next to your code.
//
//   require_once 'igtoken.php';
//   $t = igtoken_get('shop-main');   // ['token' => ..., 'expires_at' => ..., 'appsecret_proof' => ...]
//   // on failure: IgtokenError with ->errorCode forbidden, no_token, expired,
//   // reauth_required, unavailable (the daemon is down), timeout, ...
//
// Ask for the token each time you need it: igtokend replaces it before it
// expires. The socket is $IGTOKEND_SOCKET, else /run/igtokend/igtokend.sock; the
// PHP process (php-fpm's user) must be one of the account's `readers`. As a
// command: php igtoken.php ACCOUNT prints the token.

final class IgtokenError extends RuntimeException
{
    public string $errorCode;

    public function __construct(string $code, string $message)
    {
        parent::__construct($message);
        $this->errorCode = $code;
    }
}

function igtoken_get(string $account, ?string $socket = null, float $timeout = 10.0): array
{
    $path = $socket ?? (getenv('IGTOKEND_SOCKET') ?: '/run/igtokend/igtokend.sock');
    $errno = 0;
    $errstr = '';
    $fp = @stream_socket_client('unix://' . $path, $errno, $errstr, $timeout);
    if ($fp === false) {
        $why = $errno === 13 ? "permission denied on $path" : "igtokend is not running (nothing answers at $path)";
        throw new IgtokenError('unavailable', $why);
    }
    try {
        stream_set_timeout($fp, (int)$timeout, (int)(($timeout - floor($timeout)) * 1e6));
        $req = json_encode(['cmd' => 'token', 'account' => $account]) . "\n";
        if (fwrite($fp, $req) !== strlen($req)) {
            throw new IgtokenError('unavailable', 'igtokend closed the connection');
        }
        $line = fgets($fp, 1 << 20);
        $meta = stream_get_meta_data($fp);
    } finally {
        fclose($fp);
    }
    if ($line === false) {
        if (!empty($meta['timed_out'])) {
            throw new IgtokenError('timeout', "no answer from igtokend in {$timeout} s");
        }
        throw new IgtokenError('unavailable', 'igtokend closed the connection');
    }
    $ans = json_decode($line, true);
    if (!is_array($ans)) {
        throw new IgtokenError('internal', 'the answer is not JSON');
    }
    if (empty($ans['ok'])) {
        throw new IgtokenError((string)($ans['error'] ?? 'internal'), (string)($ans['message'] ?? ''));
    }
    return [
        'token' => $ans['token'],
        'expires_at' => (int)$ans['expires_at'],
        'appsecret_proof' => $ans['appsecret_proof'] ?? null,
    ];
}

if (PHP_SAPI === 'cli' && isset($argv[0]) && realpath($argv[0]) === __FILE__) {
    $codes = ['forbidden' => 3, 'no_token' => 4, 'expired' => 4, 'reauth_required' => 4, 'unavailable' => 69];
    if ($argc !== 2) {
        fwrite(STDERR, "usage: php igtoken.php ACCOUNT\n");
        exit(2);
    }
    try {
        echo igtoken_get($argv[1])['token'], "\n";
        exit(0);
    } catch (IgtokenError $e) {
        fwrite(STDERR, "igtoken: {$e->errorCode}: {$e->getMessage()}\n");
        exit($codes[$e->errorCode] ?? 1);
    }
}
