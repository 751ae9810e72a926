using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Multiprocessing.Tests.Cluster;

/// <summary>A self-signed certificate made for one test, exported to a temporary password-protected .pfx that disposing deletes.</summary>
public sealed class TestCertificate : IDisposable
{
    private TestCertificate(string path, string password, string thumbprint)
    {
        Path = path;
        Password = password;
        Thumbprint = thumbprint;
    }

    public string Path { get; }

    public string Password { get; }

    /// <summary>The SHA-256 fingerprint, written as openssl does (colon-separated), which the nodes and clients must accept as is.</summary>
    public string Thumbprint { get; }

    public static TestCertificate Create(string subject = "CN=multiprocessing-test")
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: false));
        using X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        string password = Guid.NewGuid().ToString("N");
        string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"mp-test-{Guid.NewGuid():N}.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx, password));
        string thumbprint = string.Join(':', certificate.GetCertHash(HashAlgorithmName.SHA256).Select(b => b.ToString("X2")));
        return new TestCertificate(path, password, thumbprint);
    }

    public void Dispose() => File.Delete(Path);
}
