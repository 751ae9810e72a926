using System.Security.Authentication;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Multiprocessing.Cluster;

namespace Multiprocessing.Tests.Cluster;

/// <summary>Two real nodes (mp node processes on loopback) that speak TLS to each other and to clients, with a self-signed certificate made for the run.</summary>
public sealed class TlsCluster : IAsyncLifetime
{
    internal TestCertificate Certificate { get; } = TestCertificate.Create();

    internal ClusterNodes Nodes { get; private set; } = null!;

    public async Task InitializeAsync() => Nodes = await ClusterNodes.StartAsync(2, tls: Certificate);

    public async Task DisposeAsync()
    {
        await Nodes.DisposeAsync();
        Certificate.Dispose();
    }
}

[Collection("cluster")]
public sealed class ClusterTlsTests(TlsCluster cluster) : IClassFixture<TlsCluster>
{
    [Fact]
    public async Task MapAsync_OverTwoTlsNodes_AllResultsFromBothNodes()
    {
        await using ClusterPool pool = await ClusterPool.ConnectAsync(cluster.Nodes.ClientOptions());
        // The second node joined through the first over TLS: both are members.
        await Wait.UntilAsync(() => pool.Nodes.Count == 2, "the client sees both TLS nodes");
        int[] squares = await pool.MapAsync(Tasks.Square, Enumerable.Range(0, 2_000));
        Assert.Equal(Enumerable.Range(0, 2_000).Select(i => i * i), squares);
        int[] pids = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => pool.SubmitAsync(ClusterTasks.SlowPid, i)));
        int[] workers = [.. cluster.Nodes.Nodes.SelectMany(n => n.WorkerPids())];
        Assert.All(pids, pid => Assert.Contains(pid, workers));
    }

    [Fact]
    public async Task ConnectAsync_ClientWithoutTls_AuthenticationExceptionSayingTheNodeSpeaksTls()
    {
        ClusterPoolOptions options = cluster.Nodes.ClientOptions();
        options.Tls = null;
        // ConnectTimeout stays 60 s: the failure must come from the client seeing the TLS, not from the time-out.
        AuthenticationException error = await Assert.ThrowsAsync<AuthenticationException>(() => ClusterPool.ConnectAsync(options));
        Assert.Contains("speaks TLS, but this client has no TLS settings", error.Message, StringComparison.Ordinal);
        Assert.Contains("ClusterPoolOptions.Tls", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectAsync_ClientNotTrustingTheNodesCertificate_AuthenticationExceptionNamingIt()
    {
        ClusterPoolOptions options = cluster.Nodes.ClientOptions();
        options.Tls = new ClusterTlsOptions();
        AuthenticationException error = await Assert.ThrowsAsync<AuthenticationException>(() => ClusterPool.ConnectAsync(options));
        Assert.Contains("CN=multiprocessing-test", error.Message, StringComparison.Ordinal);
        Assert.Contains("does not accept", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MpNode_WithoutTlsJoiningTlsNodes_ExitsSayingThePrimarySpeaksTls()
    {
        // A separate cluster object would start its own primary; this one joins the TLS fixture's primary without TLS.
        InvalidOperationException error = await Assert.ThrowsAsync<InvalidOperationException>(() => cluster.Nodes.AddAsync(1, tls: null));
        Assert.Contains("speaks TLS, but this node has no TLS settings", error.Message, StringComparison.Ordinal);
    }
}

[Collection("cluster")]
public sealed class ClusterTlsSettingsTests
{
    [Fact]
    public async Task ConnectAsync_TlsClientToPlainNode_AuthenticationExceptionSayingTheNodeDoesNotSpeakTls()
    {
        await using ClusterNodes nodes = await ClusterNodes.StartAsync(1);
        ClusterPoolOptions options = nodes.ClientOptions();
        options.Tls = new ClusterTlsOptions { AllowAnyRemoteCertificate = true };
        AuthenticationException error = await Assert.ThrowsAsync<AuthenticationException>(() => ClusterPool.ConnectAsync(options));
        Assert.Contains("does not speak TLS", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectAsync_NodeRequiresClientCertificate_RefusedWithoutOneAndServedWithIt()
    {
        using TestCertificate certificate = TestCertificate.Create();
        await using ClusterNodes nodes = await ClusterNodes.StartAsync(0, tls: certificate);
        await nodes.AddAsync(1, certificate, "--tls-require-client-certificate");
        ClusterPoolOptions options = nodes.ClientOptions();
        AuthenticationException error = await Assert.ThrowsAsync<AuthenticationException>(() => ClusterPool.ConnectAsync(options));
        Assert.Contains("requires a client certificate, and this client has none", error.Message, StringComparison.Ordinal);

        options = nodes.ClientOptions();
        options.Tls = new ClusterTlsOptions { CertificatePath = certificate.Path, CertificatePassword = certificate.Password, TrustedThumbprints = [certificate.Thumbprint] };
        await using ClusterPool pool = await ClusterPool.ConnectAsync(options);
        int[] squares = await pool.MapAsync(Tasks.Square, [1, 2, 3]);
        Assert.Equal([1, 4, 9], squares);
    }

    [Fact]
    public async Task ConnectAsync_CertificateFileMissing_FileNotFoundExceptionNamingIt()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mp-missing-{Guid.NewGuid():N}.pfx");
        var options = new ClusterPoolOptions { Tls = new ClusterTlsOptions { CertificatePath = path } };
        FileNotFoundException error = await Assert.ThrowsAsync<FileNotFoundException>(() => ClusterPool.ConnectAsync(options));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddProcessPoolNode_WrongCertificatePassword_CryptographicExceptionNamingTheFile()
    {
        using TestCertificate certificate = TestCertificate.Create();
        var services = new ServiceCollection();
        CryptographicException error = Assert.Throws<CryptographicException>(() => services.AddProcessPoolNode(o => o.Tls = new ClusterTlsOptions { CertificatePath = certificate.Path, CertificatePassword = "wrong" }));
        Assert.Contains(certificate.Path, error.Message, StringComparison.Ordinal);
        Assert.Contains("password", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddProcessPoolNode_CertificateFileNotPkcs12_CryptographicExceptionNamingTheFile()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mp-notpfx-{Guid.NewGuid():N}.pfx");
        File.WriteAllText(path, "not a certificate");
        try
        {
            var services = new ServiceCollection();
            CryptographicException error = Assert.Throws<CryptographicException>(() => services.AddProcessPoolNode(o => o.Tls = new ClusterTlsOptions { CertificatePath = path }));
            Assert.Contains(path, error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void AddProcessPoolNode_TlsWithoutCertificate_ArgumentException()
    {
        var services = new ServiceCollection();
        ArgumentException error = Assert.Throws<ArgumentException>(() => services.AddProcessPoolNode(o => o.Tls = new ClusterTlsOptions()));
        Assert.Contains("CertificatePath", error.Message, StringComparison.Ordinal);
    }
}
