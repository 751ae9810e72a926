namespace Multiprocessing.Cluster;

/// <summary>
/// TLS between a cluster's clients and nodes and between its nodes: this side's certificate and how
/// the other side's certificate is checked. Set it as <see cref="ProcessPoolNodeOptions.Tls"/> on
/// every node (<c>mp node --tls-certificate</c>) and as <see cref="ClusterPoolOptions.Tls"/> on every
/// client: a cluster speaks TLS everywhere or nowhere.
/// </summary>
/// <remarks>
/// <para>The other side's certificate is accepted in one of three ways, the first that applies:</para>
/// <list type="number">
/// <item><description><see cref="AllowAnyRemoteCertificate"/>: any certificate. The traffic is encrypted but nobody is authenticated; for trials only.</description></item>
/// <item><description><see cref="TrustedThumbprints"/> not empty: exactly the certificates named there (pinning). Self-signed certificates work; their chain is not checked.</description></item>
/// <item><description>Otherwise its chain must end at a root this machine trusts (the system store), and, if <see cref="RemoteName"/> is set, it must be issued for that name.</description></item>
/// </list>
/// <para>
/// Nodes are addressed by IP, so the certificate's name is never compared with the address; use
/// <see cref="RemoteName"/> or <see cref="TrustedThumbprints"/> to say whom you trust.
/// </para>
/// </remarks>
public sealed class ClusterTlsOptions
{
    /// <summary>
    /// This side's certificate with its private key: a PKCS#12 file (.pfx or .p12). Required on a node;
    /// on a client, needed only when the nodes set <see cref="RequireClientCertificate"/>.
    /// </summary>
    /// <value>The default is null.</value>
    public string? CertificatePath { get; set; }

    /// <summary>The password of <see cref="CertificatePath"/>.</summary>
    /// <value>The default is null: the file has no password.</value>
    public string? CertificatePassword { get; set; }

    /// <summary>
    /// The certificates the other side may present, by thumbprint: the SHA-1 thumbprint .NET shows
    /// (40 hex digits) or the SHA-256 fingerprint <c>openssl x509 -fingerprint -sha256</c> prints (64 hex
    /// digits); colons, spaces and case do not matter. When not empty, only these are accepted.
    /// </summary>
    /// <value>The default is empty: the chain is checked against the machine's trusted roots.</value>
    public IReadOnlyList<string> TrustedThumbprints { get; set; } = [];

    /// <summary>With chain checking, the DNS name the other side's certificate must be issued for (its subject alternative names or common name).</summary>
    /// <value>The default is null: any certificate whose chain this machine trusts.</value>
    public string? RemoteName { get; set; }

    /// <summary>Accepts any certificate from the other side: the traffic is encrypted, but nobody is authenticated. For trials only.</summary>
    /// <value>The default is false.</value>
    public bool AllowAnyRemoteCertificate { get; set; }

    /// <summary>On a node: clients must present a certificate too (<see cref="CertificatePath"/> on the client), checked by the same rules. Ignored on a client.</summary>
    /// <value>The default is false: clients check the node, nodes check each other, and clients need no certificate of their own.</value>
    public bool RequireClientCertificate { get; set; }

    /// <summary>How long a TLS handshake may take before the connection is dropped.</summary>
    /// <value>The default is 10 seconds.</value>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
