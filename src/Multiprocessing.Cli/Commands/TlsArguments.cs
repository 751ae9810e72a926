using System.CommandLine;
using Multiprocessing.Cluster;

namespace Multiprocessing.Cli.Commands;

/// <summary>The TLS options <c>mp node</c> and <c>mp cluster</c> share, so a node and a client are set up with the same words.</summary>
internal sealed class TlsArguments
{
    /// <summary>Read when <c>--tls-password</c> is not given, so the password need not appear in the process list.</summary>
    public const string PasswordVariable = "MP_TLS_PASSWORD";

    private readonly Option<FileInfo?> _certificate;

    private readonly Option<string?> _password = new("--tls-password")
    {
        Description = $"The password of --tls-certificate (default: the {PasswordVariable} environment variable, else none).",
        HelpName = "PASSWORD",
    };

    private readonly Option<string[]> _trust = new("--tls-trust")
    {
        Description = "Accept only the certificate with this thumbprint (SHA-1, or SHA-256 as openssl prints it) from the other side; repeat for several. Without it, the chain must end at a root this machine trusts.",
        HelpName = "THUMBPRINT",
        AllowMultipleArgumentsPerToken = true,
    };

    private readonly Option<string?> _remoteName = new("--tls-remote-name")
    {
        Description = "Without --tls-trust: the DNS name the other side's certificate must be issued for.",
        HelpName = "NAME",
    };

    private readonly Option<bool> _allowAny = new("--tls-allow-any")
    {
        Description = "Accept any certificate from the other side: encrypted, but nobody is authenticated. For trials only.",
    };

    private readonly Option<bool> _requireClient;

    public TlsArguments(bool node)
    {
        _certificate = new Option<FileInfo?>("--tls-certificate")
        {
            Description = node
                ? "Use TLS to clients and between nodes, with this certificate and its private key (a .pfx file). Every node and client of the cluster must then use TLS."
                : "Connect with TLS. With a .pfx file, present it as this client's certificate; with 'none', present none.",
            HelpName = "PFX",
        };
        _requireClient = new Option<bool>("--tls-require-client-certificate") { Description = "Clients must present a certificate too, checked like a node's." };
        Node = node;
    }

    private bool Node { get; }

    public void AddTo(Command command)
    {
        command.Options.Add(_certificate);
        command.Options.Add(_password);
        command.Options.Add(_trust);
        command.Options.Add(_remoteName);
        command.Options.Add(_allowAny);
        if (Node)
        {
            command.Options.Add(_requireClient);
        }
    }

    /// <summary>The settings, or null when <c>--tls-certificate</c> is not given (plain TCP).</summary>
    public ClusterTlsOptions? Read(ParseResult parseResult)
    {
        if (parseResult.GetValue(_certificate) is not { } certificate)
        {
            return parseResult.GetValue(_trust) is { Length: > 0 } || parseResult.GetValue(_allowAny) || parseResult.GetValue(_remoteName) is not null
                ? throw new InvalidOperationException("--tls-trust, --tls-remote-name and --tls-allow-any need --tls-certificate.")
                : null;
        }
        bool none = !Node && certificate.Name == "none" && !certificate.Exists;
        return new ClusterTlsOptions
        {
            CertificatePath = none ? null : certificate.FullName,
            CertificatePassword = parseResult.GetValue(_password) ?? Environment.GetEnvironmentVariable(PasswordVariable),
            TrustedThumbprints = parseResult.GetValue(_trust) ?? [],
            RemoteName = parseResult.GetValue(_remoteName),
            AllowAnyRemoteCertificate = parseResult.GetValue(_allowAny),
            RequireClientCertificate = Node && parseResult.GetValue(_requireClient),
        };
    }
}
