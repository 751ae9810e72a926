using System.Globalization;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans;
using Orleans.Configuration;
using Orleans.Connections.Security;
using Orleans.Hosting;

namespace Multiprocessing.Cluster;

/// <summary>
/// <see cref="ClusterTlsOptions"/> turned into Orleans' TLS settings, for silos and clients alike, so
/// both sides load certificates and judge the other side's certificate the same way.
/// </summary>
internal static class ClusterTls
{
    /// <summary>Refuses settings that cannot work before anything listens or connects.</summary>
    /// <exception cref="ArgumentException">A thumbprint is not 40 or 64 hex digits, or the handshake time-out is not positive.</exception>
    public static void Validate(ClusterTlsOptions tls, string owner)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(tls.HandshakeTimeout, TimeSpan.Zero, $"{owner}.Tls.HandshakeTimeout");
        foreach (string thumbprint in tls.TrustedThumbprints)
        {
            string hex = Normalize(thumbprint);
            if (hex.Length is not (40 or 64) || !hex.All(char.IsAsciiHexDigit))
            {
                throw new ArgumentException($"'{thumbprint}' in {owner}.Tls.TrustedThumbprints is neither a SHA-1 thumbprint (40 hex digits) nor a SHA-256 fingerprint (64 hex digits).", owner);
            }
        }
    }

    /// <summary>Loads this side's certificate with its private key.</summary>
    /// <param name="tls">The settings.</param>
    /// <param name="option">How the user named the file, for the message (<c>--tls-certificate</c>, <c>ClusterPoolOptions.Tls.CertificatePath</c>).</param>
    /// <exception cref="FileNotFoundException">The file is not there.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read.</exception>
    /// <exception cref="CryptographicException">The file is not a PKCS#12 file, the password is wrong, or it holds no private key.</exception>
    public static X509Certificate2 LoadCertificate(ClusterTlsOptions tls, string option)
    {
        string path = tls.CertificatePath ?? throw new ArgumentException($"{option} is not set.", option);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The TLS certificate file '{path}' ({option}) does not exist.", path);
        }
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"The TLS certificate file '{path}' ({option}) cannot be read: {e.Message}", e);
        }
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadPkcs12(bytes, tls.CertificatePassword);
        }
        catch (CryptographicException e)
        {
            throw new CryptographicException($"The TLS certificate file '{path}' ({option}) could not be read as a PKCS#12 (.pfx) file: {e.Message.TrimEnd('.')}. Check that it is a .pfx with its private key and that its password is given.", e);
        }
        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new CryptographicException($"The TLS certificate file '{path}' ({option}) holds a certificate without its private key; export it to .pfx with the key.");
        }
        return certificate;
    }

    /// <summary>
    /// TLS on every connection a silo makes or takes. Other silos must present a certificate; clients
    /// only with <see cref="ClusterTlsOptions.RequireClientCertificate"/>. Orleans' own <c>UseTls</c>
    /// applies one remote-certificate rule to silos and clients alike, hence the two option sets.
    /// </summary>
    public static void Configure(ISiloBuilder silo, ClusterTlsOptions tls, X509Certificate2 certificate)
    {
        TlsOptions silos = Options(tls, certificate, RemoteCertificateMode.RequireCertificate);
        TlsOptions clients = Options(tls, certificate, tls.RequireClientCertificate ? RemoteCertificateMode.RequireCertificate : RemoteCertificateMode.AllowCertificate);
        silo.Configure<SiloConnectionOptions>(connections =>
        {
            connections.ConfigureSiloInboundConnection(b => b.UseServerTls(silos));
            connections.ConfigureSiloOutboundConnection(b => b.UseClientTls(silos));
            connections.ConfigureGatewayInboundConnection(b => b.UseServerTls(clients));
        });
    }

    private static TlsOptions Options(ClusterTlsOptions tls, X509Certificate2 certificate, RemoteCertificateMode remote) => new()
    {
        LocalCertificate = certificate,
        RemoteCertificateMode = remote,
        ClientCertificateMode = RemoteCertificateMode.AllowCertificate,
        RemoteCertificateValidation = (other, chain, errors) => Accepts(tls, other, errors),
        HandshakeTimeout = tls.HandshakeTimeout,
    };

    /// <summary>TLS on a client's connections to gateways: the node must present a certificate this client accepts.</summary>
    public static void Configure(IClientBuilder client, ClusterTlsOptions tls, X509Certificate2? certificate) =>
        client.UseTls(o =>
        {
            o.LocalCertificate = certificate;
            o.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            o.ClientCertificateMode = RemoteCertificateMode.AllowCertificate;
            o.RemoteCertificateValidation = (remote, chain, errors) => Accepts(tls, remote, errors);
            o.HandshakeTimeout = tls.HandshakeTimeout;
        });

    /// <summary>Whether the other side's certificate is accepted; see <see cref="ClusterTlsOptions"/> for the three ways.</summary>
    public static bool Accepts(ClusterTlsOptions tls, X509Certificate2 remote, SslPolicyErrors errors)
    {
        if (tls.AllowAnyRemoteCertificate)
        {
            return true;
        }
        if (tls.TrustedThumbprints.Count > 0)
        {
            string sha1 = remote.Thumbprint;
            string sha256 = remote.GetCertHashString(HashAlgorithmName.SHA256);
            return tls.TrustedThumbprints.Select(Normalize).Any(t => t.Equals(sha1, StringComparison.OrdinalIgnoreCase) || t.Equals(sha256, StringComparison.OrdinalIgnoreCase));
        }
        // Nodes are reached by IP and Orleans names no target host, so the platform's name check says nothing: RemoteName replaces it.
        if ((errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) != SslPolicyErrors.None)
        {
            return false;
        }
        return tls.RemoteName is null || remote.MatchesHostname(tls.RemoteName);
    }

    /// <summary>How the other side's certificate is judged, for messages.</summary>
    public static string DescribeTrust(ClusterTlsOptions tls) =>
        tls.AllowAnyRemoteCertificate ? "any certificate is accepted"
        : tls.TrustedThumbprints.Count > 0 ? $"only the certificates {string.Join(", ", tls.TrustedThumbprints)} are trusted"
        : tls.RemoteName is { } name ? string.Create(CultureInfo.InvariantCulture, $"the certificate must chain to a trusted root and name {name}")
        : "the certificate must chain to a root this machine trusts";

    private static string Normalize(string thumbprint) => thumbprint.Replace(":", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal).Trim();
}
