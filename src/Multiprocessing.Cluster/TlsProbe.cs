using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Multiprocessing.Cluster;

/// <summary>
/// Finds out why a client cannot reach its gateways, or a node its primary node, when TLS is the
/// reason. Orleans only retries a connection the other side drops (a client until its connect
/// time-out, a joining silo for minutes), and the other side's reason stays in its own log; one
/// handshake of our own tells which side disagrees.
/// </summary>
internal static class TlsProbe
{
    /// <summary>Who probes, as messages name it and the settings to change.</summary>
    internal sealed record Side(string Self, string Peer, string TlsSetting, string TrustSetting, string CertificateSetting);

    public static readonly Side Client = new("this client", "Gateway", "ClusterPoolOptions.Tls (mp cluster --tls-certificate)", "ClusterPoolOptions.Tls.TrustedThumbprints (mp cluster --tls-trust)", "ClusterPoolOptions.Tls.CertificatePath (mp cluster --tls-certificate)");

    public static readonly Side Node = new("this node", "Primary node", "ProcessPoolNodeOptions.Tls (mp node --tls-certificate)", "ProcessPoolNodeOptions.Tls.TrustedThumbprints (mp node --tls-trust)", "ProcessPoolNodeOptions.Tls.CertificatePath (mp node --tls-certificate)");

    /// <summary>How long connecting may go on before the gateways are probed; a normal connect on a LAN is done well before.</summary>
    public static readonly TimeSpan After = TimeSpan.FromSeconds(3);

    /// <summary>How long one probe may wait for an answer.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Waits for <paramref name="connect"/> for <see cref="After"/>; if it is not done by then, probes the
    /// gateways. Returns the mismatch found, or null (connected, failed for another reason, or no mismatch).
    /// </summary>
    public static async Task<AuthenticationException?> WhileConnectingAsync(Task connect, ClusterPoolOptions options, X509Certificate2? certificate, CancellationToken cancellationToken)
    {
        try
        {
            if (await Task.WhenAny(connect, Task.Delay(After, cancellationToken)).ConfigureAwait(false) == connect || cancellationToken.IsCancellationRequested)
            {
                return null;
            }
            return await FindMismatchAsync(options, certificate, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return null; // The connect time-out: the caller reports it as such.
        }
    }

    /// <summary>The first gateway whose TLS disagrees with this client's, as an exception that says how; null if none does (or none answers).</summary>
    public static async Task<AuthenticationException?> FindMismatchAsync(ClusterPoolOptions options, X509Certificate2? certificate, CancellationToken cancellationToken)
    {
        foreach (int port in options.GatewayPorts)
        {
            var gateway = new IPEndPoint(IPAddress.Loopback, port);
            string? mismatch;
            try
            {
                mismatch = await ProbeAsync(gateway, options.Tls, certificate, Client, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                continue; // Nothing listens there (yet): not a TLS question.
            }
            if (mismatch is not null)
            {
                return new AuthenticationException(mismatch);
            }
        }
        return null;
    }

    /// <summary>A mismatch between this side's TLS and <paramref name="peer"/>'s, described for <paramref name="side"/>; null if there is none.</summary>
    /// <exception cref="SocketException">Nothing listens at <paramref name="peer"/>.</exception>
    public static async Task<string?> ProbeAsync(IPEndPoint peer, ClusterTlsOptions? tls, X509Certificate2? certificate, Side side, CancellationToken cancellationToken)
    {
                using var socket = new Socket(peer.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(Bound);
        await socket.ConnectAsync(peer, bound.Token).ConfigureAwait(false);
        X509Certificate2? remote = null;
        SslPolicyErrors errors = SslPolicyErrors.None;
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false, (_, c, _, e) =>
        {
            // Every certificate is taken here: the probe is to learn what the gateway presents, and it sends nothing after.
            remote = c is null ? null : X509CertificateLoader.LoadCertificate(c.GetRawCertData());
            errors = e;
            return true;
        });
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "",
                ClientCertificates = certificate is null ? null : [certificate],
                // Orleans' gateways refuse a handshake that does not offer its protocol name.
                ApplicationProtocols = [new SslApplicationProtocol("Orleans1")],
            }, bound.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return tls is null ? null
                : $"{side.Peer} {peer} does not speak TLS ({(e is OperationCanceledException ? $"no TLS answer within {Bound.TotalSeconds:0} s" : e.Message.TrimEnd('.'))}), but {side.Self} requires it ({side.TlsSetting}). A cluster uses TLS on every node and client or on none: start the nodes with mp node --tls-certificate, or leave TLS out here.";
        }
        using X509Certificate2? presented = remote;
        if (tls is null)
        {
            return $"{side.Peer} {peer} speaks TLS, but {side.Self} has no TLS settings. A cluster uses TLS on every node and client or on none: set {side.TlsSetting}{(presented is null ? "" : $"; the node presents {Describe(presented)}")}.";
        }
        if (presented is null || !ClusterTls.Accepts(tls, presented, errors))
        {
            return $"{side.Peer} {peer} presented {(presented is null ? "no certificate" : Describe(presented) + $" (platform check: {errors})")}, which {side.Self} does not accept: {ClusterTls.DescribeTrust(tls)}. Trust it with {side.TrustSetting}.";
        }
        // With TLS 1.3 the server judges the client's certificate after the client's handshake is done: a refusal arrives as the first read.
        try
        {
            using var read = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            read.CancelAfter(TimeSpan.FromSeconds(1));
            if (await ssl.ReadAsync(new byte[1], read.Token).ConfigureAwait(false) > 0)
            {
                return null;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null; // Still open: the gateway took this client's handshake.
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
        }
        return certificate is null
            ? $"{side.Peer} {peer} requires a client certificate, and {side.Self} has none. Set {side.CertificateSetting} to a certificate the nodes trust."
            : $"{side.Peer} {peer} refused the certificate of {side.Self}, {Describe(certificate)}. The nodes must trust it (their --tls-trust, or a chain they trust).";
    }

    private static string Describe(X509Certificate2 certificate) =>
        $"'{certificate.Subject}' (SHA-256 {certificate.GetCertHashString(HashAlgorithmName.SHA256)})";
}
