import java.io.*;
import java.net.URL;
import java.security.MessageDigest;
import java.sql.*;
import javax.crypto.Cipher;
import javax.servlet.http.*;

public class Example extends HttpServlet {
    void run(String name) throws Exception {
        // ruleid: java.security.runtime-exec
        Runtime.getRuntime().exec("ls " + name);
        // ok: java.security.runtime-exec
        new ProcessBuilder("ls", name).start();
    }

    void query(Statement st, Connection conn, String id) throws Exception {
        // ruleid: java.security.sql-concat
        st.executeQuery("SELECT * FROM users WHERE id = " + id);
        // ok: java.security.sql-concat
        PreparedStatement ps = conn.prepareStatement("SELECT * FROM users WHERE id = ?");
    }

    Object load(InputStream in) throws Exception {
        // ruleid: java.security.object-input-stream
        return new ObjectInputStream(in).readObject();
    }

    void crypto() throws Exception {
        // ruleid: java.security.weak-hash
        MessageDigest.getInstance("MD5");
        // ok: java.security.weak-hash
        MessageDigest.getInstance("SHA-256");
        // ruleid: java.security.weak-cipher
        Cipher.getInstance("DES/CBC/PKCS5Padding");
        // ruleid: java.security.weak-cipher
        Cipher.getInstance("AES/ECB/PKCS5Padding");
        // ok: java.security.weak-cipher
        Cipher.getInstance("AES/GCM/NoPadding");
    }

    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws Exception {
        String name = req.getParameter("name");
        // ruleid: java.security.path-traversal-request
        new FileInputStream(name);
        String url = req.getParameter("url");
        // ruleid: java.security.ssrf-request-url
        new URL(url).openStream();
        // ok: java.security.ssrf-request-url
        new URL("https://example.com/health").openStream();
        // ruleid: java.security.servlet-xss
        resp.getWriter().write(req.getParameter("comment"));
        // ok: java.security.servlet-xss
        resp.getWriter().write("hello");
    }
}
