// Bouncy Castle's EST client (org.bouncycastle.est, Debian's libbcpkix-java), unmodified, driven against the
// gateway: cacerts, csrattrs, simpleenroll with HTTP Basic, simplereenroll with the issued certificate as TLS
// client certificate, serverkeygen. Writes PEM files (and the generated key as PKCS#8 DER) into OUT for the
// Python test to check with openssl.
//
//   java -cp bcpkix.jar:bcprov.jar:bcutil.jar BcEstClient.java HOST:PORT LABEL TRUST.pem USER PASSWORD OUT
import java.io.FileReader;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Security;
import java.security.cert.Certificate;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.util.HashSet;
import java.util.Set;
import javax.net.ssl.KeyManagerFactory;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.est.CSRRequestResponse;
import org.bouncycastle.est.ESTService;
import org.bouncycastle.est.EnrollmentResponse;
import org.bouncycastle.est.HttpAuth;
import org.bouncycastle.est.jcajce.JcaJceUtils;
import org.bouncycastle.est.jcajce.JsseESTServiceBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

public class BcEstClient {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        String server = args[0], label = args[1], user = args[3], password = args[4];
        Path out = Path.of(args[5]);
        Set<TrustAnchor> anchors = new HashSet<>();
        try (PEMParser parser = new PEMParser(new FileReader(args[2]))) {
            Object o;
            while ((o = parser.readObject()) != null) {
                anchors.add(new TrustAnchor(x509((X509CertificateHolder) o), null));
            }
        }
        ESTService est = new JsseESTServiceBuilder(server, JcaJceUtils.getCertPathTrustManager(anchors, null))
            .withLabel(label).build();

        // cacerts (RFC 7030 §4.1)
        X509CertificateHolder[] cas = ESTService.storeToArray(est.getCACerts().getCertificateStore());
        write(out.resolve("bc-cacerts.pem"), (Object[]) cas);

        // csrattrs (§4.5)
        CSRRequestResponse attrs = est.getCSRAttributes();
        System.out.println("csrattrs " + (attrs.hasAttributesResponse()
            ? attrs.getAttributesResponse().getRequirements() : "none"));

        // simpleenroll with HTTP Basic (§4.2.1, §3.2.3)
        KeyPair device = ecKey();
        EnrollmentResponse enrolled = est.simpleEnroll(false, csr("bc-device-1", device),
            new HttpAuth(user, password.toCharArray()));
        X509CertificateHolder cert = ESTService.storeToArray(enrolled.getStore())[0];
        write(out.resolve("bc-enrolled.pem"), cert);

        // simplereenroll with the issued certificate as TLS client certificate (§4.2.2), a new key
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        store.setKeyEntry("device", device.getPrivate(), "x".toCharArray(), new Certificate[]{x509(cert)});
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(store, "x".toCharArray());
        ESTService withCert = new JsseESTServiceBuilder(server, JcaJceUtils.getCertPathTrustManager(anchors, null))
            .withKeyManagers(kmf.getKeyManagers()).withLabel(label).build();
        EnrollmentResponse renewed = withCert.simpleEnroll(true, csr("bc-device-1", ecKey()), null);
        write(out.resolve("bc-reenrolled.pem"), ESTService.storeToArray(renewed.getStore())[0]);

        // serverkeygen (§4.4)
        EnrollmentResponse generated = est.simpleEnrollWithServersideCreation(csr("bc-device-2", ecKey()),
            new HttpAuth(user, password.toCharArray()));
        write(out.resolve("bc-serverkeygen.pem"), ESTService.storeToArray(generated.getStore())[0]);
        Files.write(out.resolve("bc-serverkeygen.p8"), generated.getPrivateKeyInfo().getEncoded());  // PKCS#8 DER
        System.out.println("done");
    }

    static KeyPair ecKey() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        return generator.generateKeyPair();
    }

    static PKCS10CertificationRequest csr(String cn, KeyPair key) throws Exception {
        return new JcaPKCS10CertificationRequestBuilder(new X500Name("CN=" + cn), key.getPublic())
            .build(new JcaContentSignerBuilder("SHA256withECDSA").build(key.getPrivate()));
    }

    static X509Certificate x509(X509CertificateHolder holder) throws Exception {
        return new JcaX509CertificateConverter().getCertificate(holder);
    }

    static void write(Path path, Object... objects) throws Exception {
        StringWriter text = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(text)) {
            for (Object o : objects) {
                writer.writeObject(o);
            }
        }
        Files.writeString(path, text.toString());
    }
}
